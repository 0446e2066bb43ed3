package admin

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountBudgets(r fiber.Router) {
	r.Post("/budget/new", a.route(adminOnly, a.budgetNew))
	r.Post("/budget/update", a.route(adminOnly, a.budgetUpdate))
	r.Post("/budget/info", a.route(adminOnly, a.budgetInfo))
	r.Get("/budget/info", a.route(adminOnly, a.budgetInfo))
	r.Get("/budget/list", a.route(adminOnly, a.budgetList))
	r.Post("/budget/delete", a.route(adminOnly, a.budgetDelete))
}

// budgetJSON is a budget as LiteLLM shows it (its budget table row).
type budgetJSON struct {
	BudgetID            string             `json:"budget_id"`
	MaxBudget           *float64           `json:"max_budget"`
	SoftBudget          *float64           `json:"soft_budget"`
	MaxParallelRequests *int64             `json:"max_parallel_requests"`
	TPMLimit            *int64             `json:"tpm_limit"`
	RPMLimit            *int64             `json:"rpm_limit"`
	ModelMaxBudget      map[string]float64 `json:"model_max_budget"`
	BudgetDuration      *string            `json:"budget_duration"`
	BudgetResetAt       *time.Time         `json:"budget_reset_at"`
	CreatedAt           time.Time          `json:"created_at"`
	UpdatedAt           time.Time          `json:"updated_at"`
}

func budgetView(b store.Budget) budgetJSON {
	return budgetJSON{
		BudgetID: b.BudgetID, MaxBudget: b.MaxBudget, SoftBudget: b.SoftBudget, MaxParallelRequests: b.MaxParallelRequests,
		TPMLimit: b.TPMLimit, RPMLimit: b.RPMLimit, ModelMaxBudget: nonNilMap(b.ModelMaxBudget),
		BudgetDuration: nullable(b.BudgetDuration), BudgetResetAt: b.BudgetResetAt,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
	}
}

// readBudgetUpdate reads the settings a budget request may carry.
func readBudgetUpdate(r *reader) store.BudgetUpdate {
	return store.BudgetUpdate{
		MaxBudget:           money(r, "max_budget"),
		SoftBudget:          money(r, "soft_budget"),
		MaxParallelRequests: limit(r, "max_parallel_requests"),
		TPMLimit:            limit(r, "tpm_limit"),
		RPMLimit:            limit(r, "rpm_limit"),
		ModelMaxBudget:      modelBudgets(r, "model_max_budget"),
		BudgetDuration:      budgetDuration(r, "budget_duration"),
	}
}

// budgetNew answers POST /budget/new; budget_id is generated when not given.
func (a *API) budgetNew(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := str(r, "budget_id")
	u := readBudgetUpdate(r)
	if r.err != nil {
		return r.err
	}
	if id == "" {
		id = newID()
	}
	b := store.Budget{BudgetID: id}
	set(&b.MaxBudget, u.MaxBudget)
	set(&b.SoftBudget, u.SoftBudget)
	set(&b.MaxParallelRequests, u.MaxParallelRequests)
	set(&b.TPMLimit, u.TPMLimit)
	set(&b.RPMLimit, u.RPMLimit)
	set(&b.ModelMaxBudget, u.ModelMaxBudget)
	set(&b.BudgetDuration, u.BudgetDuration)
	created, err := a.st.CreateBudget(q.ctx, b)
	if err != nil {
		return a.classify(err, on(store.ErrConflict, badField("budget_id", "Budget "+id+" already exists.")))
	}
	a.changed("budget", id)
	return writeJSON(c, budgetView(created))
}

// budgetUpdate answers POST /budget/update {"budget_id", ...}.
func (a *API) budgetUpdate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "budget_id")
	u := readBudgetUpdate(r)
	if r.err != nil {
		return r.err
	}
	b, err := a.st.UpdateBudget(q.ctx, id, u)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("budget_id", "Budget "+id+" not found.")))
	}
	a.changed("budget", id)
	return writeJSON(c, budgetView(b))
}

// budgetInfo answers POST /budget/info {"budgets": [...]} (LiteLLM's form) and GET /budget/info?budget_id=,
// with a list of budgets.
func (a *API) budgetInfo(c *fiber.Ctx, q *request) error {
	var ids []string
	if c.Method() == fiber.MethodGet {
		if id := query(c, "budget_id"); id != "" {
			ids = []string{id}
		}
	} else {
		r, err := parseBody(c.Body())
		if err != nil {
			return err
		}
		if ids = strList(r, "budgets"); r.err != nil {
			return r.err
		}
	}
	if len(ids) == 0 {
		return badField("budgets", "budgets (or budget_id) is required.")
	}
	out := make([]budgetJSON, 0, len(ids))
	for _, id := range ids {
		b, err := a.st.GetBudget(q.ctx, id)
		if err != nil {
			return a.classify(err, on(store.ErrNotFound, notFound("budgets", "Budget "+id+" not found.")))
		}
		out = append(out, budgetView(b))
	}
	return writeJSON(c, out)
}

// budgetList answers GET /budget/list: every budget.
func (a *API) budgetList(c *fiber.Ctx, q *request) error {
	out := []budgetJSON{}
	err := forEachPage(q.ctx, a.st.ListBudgets, func(b store.Budget) bool {
		out = append(out, budgetView(b))
		return true
	})
	if err != nil {
		return a.fail(err)
	}
	return writeJSON(c, out)
}

// budgetDelete answers POST /budget/delete {"id"} (LiteLLM's form; "budget_id" is accepted too) with the
// deleted budget. Customers linked to it keep their own limits.
func (a *API) budgetDelete(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := str(r, "id")
	if id == "" {
		id = str(r, "budget_id")
	}
	if r.err == nil && id == "" {
		r.fail("id", "id is required.")
	}
	if r.err != nil {
		return r.err
	}
	b, err := a.st.GetBudget(q.ctx, id)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("id", "Budget "+id+" not found.")))
	}
	if _, err := a.st.DeleteBudgets(q.ctx, []string{id}); err != nil {
		return a.fail(err)
	}
	a.changed("budget", id)
	return writeJSON(c, budgetView(b))
}
