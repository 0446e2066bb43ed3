package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// args accumulates bind values, converting times and JSON for the dialect.
type args struct {
	d    dialect
	vals []any
	err  error
}

func (a *args) v(x any) *args { a.vals = append(a.vals, x); return a }

func (a *args) t(t *time.Time) *args { return a.v(optTime(a.d, t)) }

func (a *args) j(x any, empty string) *args {
	s, err := jsonArg(x, empty)
	if err != nil && a.err == nil {
		a.err = err
	}
	return a.v(s)
}

// setter accumulates "col = ?" assignments for a partial update.
type setter struct {
	args
	cols []string
}

func (s *setter) set(col string, v any) { s.cols = append(s.cols, col+" = ?"); s.v(v) }

func (s *setter) setJSON(col string, v any, empty string) {
	s.cols = append(s.cols, col+" = ?")
	s.j(v, empty)
}

func setOpt[T any](s *setter, col string, o Opt[T], conv func(T) any) {
	if o.Set {
		s.set(col, conv(o.V))
	}
}

func setJSONOpt[T any](s *setter, col string, o Opt[T], empty string) {
	if o.Set {
		s.setJSON(col, o.V, empty)
	}
}

func same[T any](v T) any { return v }

func optPtr[T any](p *T) any { return nullable(p) }

// setBudgetSchedule applies a budget_duration change, rescheduling the next
// reset from now unless the update sets budget_reset_at itself.
func (s *setter) setBudgetSchedule(dur Opt[string], resetAt Opt[*time.Time], now time.Time) {
	if dur.Set {
		next, err := NextReset(dur.V, now)
		if err != nil && s.err == nil {
			s.err = err
		}
		s.set("budget_duration", nstr(dur.V))
		if !resetAt.Set {
			s.set("budget_reset_at", optTime(s.d, next))
		}
	}
	if resetAt.Set {
		s.set("budget_reset_at", optTime(s.d, resetAt.V))
	}
}

// initialReset validates duration and returns the reset time to store at
// creation: the given one, or the next reset from now.
func initialReset(duration string, given *time.Time, now time.Time) (*time.Time, error) {
	next, err := NextReset(duration, now)
	if err != nil {
		return nil, err
	}
	if given != nil {
		return given, nil
	}
	return next, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// insert runs INSERT INTO table (cols) VALUES (...).
func (s *Store) insert(ctx context.Context, table, cols string, a *args) error {
	if a.err != nil {
		return a.err
	}
	n := len(strings.Split(cols, ","))
	if n != len(a.vals) {
		return fmt.Errorf("store: internal: %s has %d columns, %d values", table, n, len(a.vals))
	}
	_, err := s.exec(ctx, s.w, "INSERT INTO "+table+" ("+cols+") VALUES ("+placeholders(n)+")", a.vals...)
	return err
}

// update applies st to the row of table whose idCol is idVal.
func (s *Store) update(ctx context.Context, table, idCol, idVal string, st *setter) error {
	if st.err != nil {
		return st.err
	}
	st.set("updated_at", s.d.timeArg(s.now()))
	q := "UPDATE " + table + " SET " + strings.Join(st.cols, ", ") + " WHERE " + idCol + " = ?"
	res, err := s.exec(ctx, s.w, q, append(st.vals, idVal)...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s %q", ErrNotFound, strings.TrimSuffix(table, "s"), idVal)
	}
	return nil
}

// deleteIDs deletes the rows of table whose idCol is in ids, returning how many were deleted.
func (s *Store) deleteIDs(ctx context.Context, table, idCol string, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		total = 0
		for _, v := range ids {
			res, err := s.exec(ctx, tx, "DELETE FROM "+table+" WHERE "+idCol+" = ?", v)
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

type rowScanner interface{ Scan(dest ...any) error }

// getOne runs a single-row query and maps no rows to ErrNotFound.
func getOne[T any](ctx context.Context, s *Store, scan func(rowScanner) (T, error), what, idVal, query string, a ...any) (T, error) {
	v, err := scan(s.queryRow(ctx, s.r, query, a...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, fmt.Errorf("%w: %s %q", ErrNotFound, what, idVal)
	}
	return v, err
}

// list runs a multi-row query.
func list[T any](ctx context.Context, s *Store, scan func(rowScanner) (T, error), query string, a ...any) ([]T, error) {
	rows, err := s.query(ctx, s.r, query, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// count runs a COUNT(*) query.
func (s *Store) count(ctx context.Context, query string, a ...any) (int, error) {
	var n int
	err := s.queryRow(ctx, s.r, query, a...).Scan(&n)
	return n, err
}

// where builds a conjunction of conditions.
type where struct {
	conds []string
	vals  []any
}

func (w *where) add(cond string, v ...any) {
	w.conds = append(w.conds, cond)
	w.vals = append(w.vals, v...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
