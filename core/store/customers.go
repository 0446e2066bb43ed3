package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const customerCols = "user_id, alias, blocked, max_budget, spend, budget_id, budget_duration, budget_reset_at, " +
	"tpm_limit, rpm_limit, metadata, created_at, updated_at"

func scanCustomer(r rowScanner) (Customer, error) {
	var c Customer
	var alias, budget, dur sql.NullString
	var maxB sql.Null[float64]
	var tpm, rpm sql.Null[int64]
	var reset, created, updated dbTime
	err := r.Scan(&c.UserID, &alias, &c.Blocked, &maxB, &c.Spend, &budget, &dur, &reset, &tpm, &rpm,
		jsonCol{&c.Metadata}, &created, &updated)
	if err != nil {
		return Customer{}, err
	}
	c.Alias, c.BudgetID, c.BudgetDuration, c.MaxBudget = alias.String, budget.String, dur.String, ptr(maxB)
	c.TPMLimit, c.RPMLimit = ptr(tpm), ptr(rpm)
	c.BudgetResetAt, c.CreatedAt, c.UpdatedAt = reset.t, created.val(), updated.val()
	return c, nil
}

// CreateCustomer stores a new customer (end user) and returns it;
// ErrConflict if the id exists, ErrReference if BudgetID names no budget.
func (s *Store) CreateCustomer(ctx context.Context, c Customer) (Customer, error) {
	if c.UserID == "" {
		return Customer{}, errors.New("store: customer user_id is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	reset, err := initialReset(c.BudgetDuration, c.BudgetResetAt, now)
	if err != nil {
		return Customer{}, err
	}
	a := &args{d: s.d}
	a.v(c.UserID).v(nstr(c.Alias)).v(c.Blocked).v(nullable(c.MaxBudget)).v(c.Spend).v(nstr(c.BudgetID)).
		v(nstr(c.BudgetDuration)).t(reset).v(nullable(c.TPMLimit)).v(nullable(c.RPMLimit)).
		j(c.Metadata, "{}").t(&now).t(&now)
	if err := s.insert(ctx, "customers", customerCols, a); err != nil {
		return Customer{}, err
	}
	return s.GetCustomer(ctx, c.UserID)
}

// GetCustomer returns the customer, or ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, userID string) (Customer, error) {
	return getOne(ctx, s, scanCustomer, "customer", userID, "SELECT "+customerCols+" FROM customers WHERE user_id = ?", userID)
}

// UpdateCustomer applies a partial update and returns the customer; ErrNotFound if there is none.
func (s *Store) UpdateCustomer(ctx context.Context, userID string, u CustomerUpdate) (Customer, error) {
	st := &setter{args: args{d: s.d}}
	setOpt(st, "alias", u.Alias, nstrAny)
	setOpt(st, "blocked", u.Blocked, same)
	setOpt(st, "max_budget", u.MaxBudget, optPtr)
	setOpt(st, "spend", u.Spend, same)
	setOpt(st, "budget_id", u.BudgetID, nstrAny)
	st.setBudgetSchedule(u.BudgetDuration, u.BudgetResetAt, s.now())
	setOpt(st, "tpm_limit", u.TPMLimit, optPtr)
	setOpt(st, "rpm_limit", u.RPMLimit, optPtr)
	setJSONOpt(st, "metadata", u.Metadata, "{}")
	if err := s.update(ctx, "customers", "user_id", userID, st); err != nil {
		return Customer{}, err
	}
	return s.GetCustomer(ctx, userID)
}

// BlockCustomer sets or clears a customer's blocked flag; ErrNotFound if there is none.
func (s *Store) BlockCustomer(ctx context.Context, userID string, blocked bool) error {
	_, err := s.UpdateCustomer(ctx, userID, CustomerUpdate{Blocked: Some(blocked)})
	return err
}

// DeleteCustomers deletes customers and returns how many existed. Their
// ledger rows are kept.
func (s *Store) DeleteCustomers(ctx context.Context, userIDs []string) (int64, error) {
	return s.deleteIDs(ctx, "customers", "user_id", userIDs)
}

// ListCustomers returns one page of customers, oldest first, and the total count.
func (s *Store) ListCustomers(ctx context.Context, p Page) ([]Customer, int, error) {
	total, err := s.count(ctx, "SELECT COUNT(*) FROM customers")
	if err != nil {
		return nil, 0, err
	}
	limit, offset := p.limitOffset()
	cs, err := list(ctx, s, scanCustomer, "SELECT "+customerCols+" FROM customers ORDER BY created_at, user_id LIMIT ? OFFSET ?", limit, offset)
	return cs, total, err
}
