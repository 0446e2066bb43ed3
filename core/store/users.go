package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const userCols = "user_id, user_email, user_role, teams, models, max_budget, spend, budget_duration, " +
	"budget_reset_at, tpm_limit, rpm_limit, max_parallel_requests, metadata, created_at, updated_at"

func scanUser(r rowScanner) (User, error) {
	var u User
	var email, role, dur sql.NullString
	var maxB sql.Null[float64]
	var tpm, rpm, par sql.Null[int64]
	var reset, created, updated dbTime
	err := r.Scan(&u.UserID, &email, &role, jsonCol{&u.Teams}, jsonCol{&u.Models}, &maxB, &u.Spend, &dur, &reset,
		&tpm, &rpm, &par, jsonCol{&u.Metadata}, &created, &updated)
	if err != nil {
		return User{}, err
	}
	u.UserEmail, u.UserRole, u.BudgetDuration, u.MaxBudget = email.String, role.String, dur.String, ptr(maxB)
	u.TPMLimit, u.RPMLimit, u.MaxParallelRequests = ptr(tpm), ptr(rpm), ptr(par)
	u.BudgetResetAt, u.CreatedAt, u.UpdatedAt = reset.t, created.val(), updated.val()
	return u, nil
}

// CreateUser stores a new user and returns it; ErrConflict if the id exists.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	if u.UserID == "" {
		return User{}, errors.New("store: user_id is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	reset, err := initialReset(u.BudgetDuration, u.BudgetResetAt, now)
	if err != nil {
		return User{}, err
	}
	a := &args{d: s.d}
	a.v(u.UserID).v(nstr(u.UserEmail)).v(nstr(u.UserRole)).j(u.Teams, "[]").j(u.Models, "[]").
		v(nullable(u.MaxBudget)).v(u.Spend).v(nstr(u.BudgetDuration)).t(reset).v(nullable(u.TPMLimit)).
		v(nullable(u.RPMLimit)).v(nullable(u.MaxParallelRequests)).j(u.Metadata, "{}").t(&now).t(&now)
	if err := s.insert(ctx, "users", userCols, a); err != nil {
		return User{}, err
	}
	return s.GetUser(ctx, u.UserID)
}

// GetUser returns the user, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, userID string) (User, error) {
	return getOne(ctx, s, scanUser, "user", userID, "SELECT "+userCols+" FROM users WHERE user_id = ?", userID)
}

// UpdateUser applies a partial update and returns the user; ErrNotFound if there is none.
func (s *Store) UpdateUser(ctx context.Context, userID string, u UserUpdate) (User, error) {
	st := &setter{args: args{d: s.d}}
	setOpt(st, "user_email", u.UserEmail, nstrAny)
	setOpt(st, "user_role", u.UserRole, nstrAny)
	setJSONOpt(st, "teams", u.Teams, "[]")
	setJSONOpt(st, "models", u.Models, "[]")
	setOpt(st, "max_budget", u.MaxBudget, optPtr)
	setOpt(st, "spend", u.Spend, same)
	st.setBudgetSchedule(u.BudgetDuration, u.BudgetResetAt, s.now())
	setOpt(st, "tpm_limit", u.TPMLimit, optPtr)
	setOpt(st, "rpm_limit", u.RPMLimit, optPtr)
	setOpt(st, "max_parallel_requests", u.MaxParallelRequests, optPtr)
	setJSONOpt(st, "metadata", u.Metadata, "{}")
	if err := s.update(ctx, "users", "user_id", userID, st); err != nil {
		return User{}, err
	}
	return s.GetUser(ctx, userID)
}

// DeleteUsers deletes users and their keys (as LiteLLM does) in one
// transaction and returns how many users existed.
func (s *Store) DeleteUsers(ctx context.Context, userIDs []string) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		total = 0
		for _, id := range userIDs {
			if _, err := s.exec(ctx, tx, "DELETE FROM keys WHERE user_id = ?", id); err != nil {
				return err
			}
			res, err := s.exec(ctx, tx, "DELETE FROM users WHERE user_id = ?", id)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// ListUsers returns one page of users, oldest first, and the total count.
func (s *Store) ListUsers(ctx context.Context, p Page) ([]User, int, error) {
	total, err := s.count(ctx, "SELECT COUNT(*) FROM users")
	if err != nil {
		return nil, 0, err
	}
	limit, offset := p.limitOffset()
	users, err := list(ctx, s, scanUser, "SELECT "+userCols+" FROM users ORDER BY created_at, user_id LIMIT ? OFFSET ?", limit, offset)
	return users, total, err
}
