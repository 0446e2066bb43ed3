package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const budgetCols = "budget_id, max_budget, soft_budget, max_parallel_requests, tpm_limit, rpm_limit, " +
	"model_max_budget, budget_duration, budget_reset_at, created_at, updated_at"

func scanBudget(r rowScanner) (Budget, error) {
	var b Budget
	var dur sql.NullString
	var maxB, softB sql.Null[float64]
	var par, tpm, rpm sql.Null[int64]
	var reset, created, updated dbTime
	err := r.Scan(&b.BudgetID, &maxB, &softB, &par, &tpm, &rpm, jsonCol{&b.ModelMaxBudget}, &dur, &reset, &created, &updated)
	if err != nil {
		return Budget{}, err
	}
	b.MaxBudget, b.SoftBudget, b.BudgetDuration = ptr(maxB), ptr(softB), dur.String
	b.MaxParallelRequests, b.TPMLimit, b.RPMLimit = ptr(par), ptr(tpm), ptr(rpm)
	b.BudgetResetAt, b.CreatedAt, b.UpdatedAt = reset.t, created.val(), updated.val()
	return b, nil
}

// CreateBudget stores a new budget and returns it; ErrConflict if the id exists.
func (s *Store) CreateBudget(ctx context.Context, b Budget) (Budget, error) {
	if b.BudgetID == "" {
		return Budget{}, errors.New("store: budget_id is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	reset, err := initialReset(b.BudgetDuration, b.BudgetResetAt, now)
	if err != nil {
		return Budget{}, err
	}
	a := &args{d: s.d}
	a.v(b.BudgetID).v(nullable(b.MaxBudget)).v(nullable(b.SoftBudget)).v(nullable(b.MaxParallelRequests)).
		v(nullable(b.TPMLimit)).v(nullable(b.RPMLimit)).j(b.ModelMaxBudget, "{}").v(nstr(b.BudgetDuration)).
		t(reset).t(&now).t(&now)
	if err := s.insert(ctx, "budgets", budgetCols, a); err != nil {
		return Budget{}, err
	}
	return s.GetBudget(ctx, b.BudgetID)
}

// GetBudget returns the budget, or ErrNotFound.
func (s *Store) GetBudget(ctx context.Context, budgetID string) (Budget, error) {
	return getOne(ctx, s, scanBudget, "budget", budgetID, "SELECT "+budgetCols+" FROM budgets WHERE budget_id = ?", budgetID)
}

// UpdateBudget applies a partial update and returns the budget; ErrNotFound if there is none.
func (s *Store) UpdateBudget(ctx context.Context, budgetID string, u BudgetUpdate) (Budget, error) {
	st := &setter{args: args{d: s.d}}
	setOpt(st, "max_budget", u.MaxBudget, optPtr)
	setOpt(st, "soft_budget", u.SoftBudget, optPtr)
	setOpt(st, "max_parallel_requests", u.MaxParallelRequests, optPtr)
	setOpt(st, "tpm_limit", u.TPMLimit, optPtr)
	setOpt(st, "rpm_limit", u.RPMLimit, optPtr)
	setJSONOpt(st, "model_max_budget", u.ModelMaxBudget, "{}")
	st.setBudgetSchedule(u.BudgetDuration, u.BudgetResetAt, s.now())
	if err := s.update(ctx, "budgets", "budget_id", budgetID, st); err != nil {
		return Budget{}, err
	}
	return s.GetBudget(ctx, budgetID)
}

// DeleteBudgets deletes budgets (customers referring to them keep their
// own limits and lose the reference) and returns how many existed.
func (s *Store) DeleteBudgets(ctx context.Context, budgetIDs []string) (int64, error) {
	return s.deleteIDs(ctx, "budgets", "budget_id", budgetIDs)
}

// ListBudgets returns one page of budgets, oldest first, and the total count.
func (s *Store) ListBudgets(ctx context.Context, p Page) ([]Budget, int, error) {
	total, err := s.count(ctx, "SELECT COUNT(*) FROM budgets")
	if err != nil {
		return nil, 0, err
	}
	limit, offset := p.limitOffset()
	bs, err := list(ctx, s, scanBudget, "SELECT "+budgetCols+" FROM budgets ORDER BY created_at, budget_id LIMIT ? OFFSET ?", limit, offset)
	return bs, total, err
}
