package admin

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountCustomers(r fiber.Router) {
	r.Post("/customer/new", a.route(adminOnly, a.customerNew))
	r.Post("/customer/update", a.route(adminOnly, a.customerUpdate))
	r.Post("/customer/delete", a.route(adminOnly, a.customerDelete))
	r.Get("/customer/info", a.route(adminOnly, a.customerInfo))
	r.Get("/customer/list", a.route(adminOnly, a.customerList))
	r.Post("/customer/block", a.route(adminOnly, a.customerBlock(true)))
	r.Post("/customer/unblock", a.route(adminOnly, a.customerBlock(false)))
}

// customerJSON is an end user as LiteLLM shows it (its end-user table row; the id is user_id).
type customerJSON struct {
	UserID         string         `json:"user_id"`
	Alias          *string        `json:"alias"`
	Blocked        bool           `json:"blocked"`
	Spend          float64        `json:"spend"`
	MaxBudget      *float64       `json:"max_budget"`
	BudgetID       *string        `json:"budget_id"`
	BudgetDuration *string        `json:"budget_duration"`
	BudgetResetAt  *time.Time     `json:"budget_reset_at"`
	TPMLimit       *int64         `json:"tpm_limit"`
	RPMLimit       *int64         `json:"rpm_limit"`
	Metadata       map[string]any `json:"metadata"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	// BudgetTable is the linked budget, shown by /customer/info.
	BudgetTable *budgetJSON `json:"litellm_budget_table,omitempty"`
}

func customerView(c store.Customer) customerJSON {
	return customerJSON{
		UserID: c.UserID, Alias: nullable(c.Alias), Blocked: c.Blocked, Spend: c.Spend, MaxBudget: c.MaxBudget,
		BudgetID: nullable(c.BudgetID), BudgetDuration: nullable(c.BudgetDuration), BudgetResetAt: c.BudgetResetAt,
		TPMLimit: c.TPMLimit, RPMLimit: c.RPMLimit, Metadata: nonNilMap(c.Metadata),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// readCustomerUpdate reads the settings a customer request may carry.
func readCustomerUpdate(r *reader) store.CustomerUpdate {
	return store.CustomerUpdate{
		Alias:          read[string](r, "alias"),
		Blocked:        read[bool](r, "blocked"),
		MaxBudget:      money(r, "max_budget"),
		Spend:          spend(r),
		BudgetID:       read[string](r, "budget_id"),
		BudgetDuration: budgetDuration(r, "budget_duration"),
		TPMLimit:       limit(r, "tpm_limit"),
		RPMLimit:       limit(r, "rpm_limit"),
		Metadata:       read[map[string]any](r, "metadata"),
	}
}

func budgetMissing(id string) errCase {
	return on(store.ErrReference, badField("budget_id", "Budget "+id+" does not exist."))
}

// customerNew answers POST /customer/new; user_id is required.
func (a *API) customerNew(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "user_id")
	u := readCustomerUpdate(r)
	if r.err != nil {
		return r.err
	}
	row := store.Customer{UserID: id}
	set(&row.Alias, u.Alias)
	set(&row.Blocked, u.Blocked)
	set(&row.MaxBudget, u.MaxBudget)
	set(&row.Spend, u.Spend)
	set(&row.BudgetID, u.BudgetID)
	set(&row.BudgetDuration, u.BudgetDuration)
	set(&row.TPMLimit, u.TPMLimit)
	set(&row.RPMLimit, u.RPMLimit)
	set(&row.Metadata, u.Metadata)
	created, err := a.st.CreateCustomer(q.ctx, row)
	if err != nil {
		return a.classify(err, on(store.ErrConflict, badField("user_id", "Customer "+id+" already exists.")),
			budgetMissing(row.BudgetID))
	}
	a.changed("customer", id)
	return writeJSON(c, customerView(created))
}

// customerUpdate answers POST /customer/update {"user_id", ...}.
func (a *API) customerUpdate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "user_id")
	u := readCustomerUpdate(r)
	if r.err != nil {
		return r.err
	}
	row, err := a.st.UpdateCustomer(q.ctx, id, u)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("user_id", "Customer "+id+" not found.")),
			budgetMissing(u.BudgetID.V))
	}
	if u.Spend.Set {
		a.hooks.SetSpend(q.ctx, "customer", id, u.Spend.V)
	}
	a.changed("customer", id)
	return writeJSON(c, customerView(row))
}

// customerDelete answers POST /customer/delete {"user_ids": [...]}. Every customer must exist, or none is
// deleted; their spend rows are kept.
func (a *API) customerDelete(c *fiber.Ctx, q *request) error {
	ids, err := idList(c.Body(), "user_ids")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := a.getCustomer(q.ctx, id, "user_ids"); err != nil {
			return err
		}
	}
	if _, err := a.st.DeleteCustomers(q.ctx, ids); err != nil {
		return a.fail(err)
	}
	a.changed("customer", ids...)
	return writeJSON(c, fiber.Map{"deleted_customers": ids})
}

func (a *API) getCustomer(ctx context.Context, id, param string) (store.Customer, error) {
	row, err := a.st.GetCustomer(ctx, id)
	return row, a.fail(err, on(store.ErrNotFound, notFound(param, "Customer "+id+" not found.")))
}

// customerInfo answers GET /customer/info?end_user_id= (LiteLLM's name; user_id is accepted too), with the
// linked budget and the live spend.
func (a *API) customerInfo(c *fiber.Ctx, q *request) error {
	id := query(c, "end_user_id")
	if id == "" {
		id = query(c, "user_id")
	}
	if id == "" {
		return badField("end_user_id", "end_user_id is required.")
	}
	row, err := a.getCustomer(q.ctx, id, "end_user_id")
	if err != nil {
		return err
	}
	row.Spend = a.live(q.ctx, "customer", id, row.Spend)
	v := customerView(row)
	if row.BudgetID != "" {
		b, err := a.st.GetBudget(q.ctx, row.BudgetID)
		switch {
		case err == nil:
			bv := budgetView(b)
			v.BudgetTable = &bv
		case !isNotFound(err):
			return a.fail(err)
		}
	}
	return writeJSON(c, v)
}

// customerList answers GET /customer/list: every customer.
func (a *API) customerList(c *fiber.Ctx, q *request) error {
	out := []customerJSON{}
	err := forEachPage(q.ctx, a.st.ListCustomers, func(row store.Customer) bool {
		out = append(out, customerView(row))
		return true
	})
	if err != nil {
		return a.fail(err)
	}
	return writeJSON(c, out)
}

// customerBlock answers POST /customer/block and /customer/unblock {"user_ids": [...]}. Blocking a customer
// not seen yet records it, blocked (as LiteLLM does), so it is refused from its first request; unblocking one
// that does not exist is a 404.
func (a *API) customerBlock(blocked bool) handler {
	return func(c *fiber.Ctx, q *request) error {
		ids, err := idList(c.Body(), "user_ids")
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := a.setBlocked(q.ctx, id, blocked); err != nil {
				return err
			}
			a.changed("customer", id)
		}
		if blocked {
			return writeJSON(c, fiber.Map{"blocked_users": ids})
		}
		return writeJSON(c, fiber.Map{"unblocked_users": ids})
	}
}

func (a *API) setBlocked(ctx context.Context, id string, blocked bool) error {
	err := a.st.BlockCustomer(ctx, id, blocked)
	if isNotFound(err) && blocked {
		_, err = a.st.CreateCustomer(ctx, store.Customer{UserID: id, Blocked: true})
		if err != nil {
			// Created meanwhile by a first request: block the row that now exists.
			err = a.st.BlockCustomer(ctx, id, true)
		}
	}
	return a.fail(err, on(store.ErrNotFound, notFound("user_ids", "Customer "+id+" not found.")))
}
