package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds every difference between SQLite and PostgreSQL. Queries are
// written once with ? placeholders and the neutral type names expanded by
// ddl; times are bound with timeArg and read back with dbTime.
type dialect interface {
	name() string
	// rebind turns ? placeholders into the dialect's form.
	rebind(q string) string
	// ddl expands the neutral column types {int} {money} {bool} {false}
	// {json} {jsonarr} {time} {text}.
	ddl(q string) string
	// timeArg converts a time for binding.
	timeArg(t time.Time) any
	// dayExpr is an expression giving the UTC day (YYYY-MM-DD) of a time column.
	dayExpr(col string) string
	// migrationLock is run first in the migration transaction to serialise
	// concurrent starts ("" when the transaction itself is exclusive).
	migrationLock() string
	mapErr(err error) error
}

type sqlite struct{}

func (sqlite) name() string            { return "sqlite" }
func (sqlite) rebind(q string) string  { return q }
func (sqlite) timeArg(t time.Time) any { return t.UnixMicro() }
func (sqlite) migrationLock() string   { return "" }
func (sqlite) dayExpr(col string) string {
	return "strftime('%Y-%m-%d', " + col + " / 1000000, 'unixepoch')"
}
func (sqlite) ddl(q string) string {
	return strings.NewReplacer(
		"{int}", "INTEGER", "{money}", "REAL", "{bool}", "INTEGER", "{false}", "0",
		"{json}", "TEXT", "{jsonarr}", "TEXT", "{time}", "INTEGER", "{text}", "TEXT",
	).Replace(q)
}

func (sqlite) mapErr(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", ErrReference, err)
		}
	}
	return err
}

type postgres struct{}

func (postgres) name() string            { return "postgres" }
func (postgres) timeArg(t time.Time) any { return t.UTC().Truncate(time.Microsecond) }
func (postgres) migrationLock() string {
	// An arbitrary constant identifying Switchyard's schema migrations.
	return "SELECT pg_advisory_xact_lock(7305214412061)"
}
func (postgres) dayExpr(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
}
func (postgres) ddl(q string) string {
	return strings.NewReplacer(
		"{int}", "BIGINT", "{money}", "DOUBLE PRECISION", "{bool}", "BOOLEAN", "{false}", "FALSE",
		"{json}", "JSONB", "{jsonarr}", "JSONB", "{time}", "TIMESTAMPTZ", "{text}", "TEXT",
	).Replace(q)
}

// rebind numbers the ? placeholders. Queries in this package never contain a
// literal question mark, since every value is a parameter.
func (postgres) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (postgres) mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %s (%s)", ErrConflict, pe.Message, pe.ConstraintName)
		case "23503":
			return fmt.Errorf("%w: %s (%s)", ErrReference, pe.Message, pe.ConstraintName)
		}
	}
	return err
}

// dbTime scans a time column of either dialect (unix microseconds in SQLite,
// timestamptz in PostgreSQL) into a UTC time; NULL gives nil.
type dbTime struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		d.t = nil
	case int64:
		t := time.UnixMicro(x).UTC()
		d.t = &t
	case time.Time:
		t := x.UTC()
		d.t = &t
	default:
		return fmt.Errorf("store: cannot scan %T as time", v)
	}
	return nil
}

func (d dbTime) val() time.Time {
	if d.t == nil {
		return time.Time{}
	}
	return *d.t
}

// optTime binds a nullable time.
func optTime(d dialect, t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return d.timeArg(*t)
}

// nullable binds a pointer as its value or NULL.
func nullable[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// ptr turns a scanned sql.Null into a pointer.
func ptr[T any](n sql.Null[T]) *T {
	if !n.Valid {
		return nil
	}
	v := n.V
	return &v
}

// nstr binds "" as NULL.
func nstr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonArg encodes v for a JSON column; nil maps and slices become empty
// ones so the column always holds a value of the documented shape.
func jsonArg(v any, empty string) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("store: encode json: %w", err)
	}
	if string(b) == "null" {
		return empty, nil
	}
	return string(b), nil
}

// jsonCol scans a JSON column into dst.
type jsonCol struct{ dst any }

// Scan implements sql.Scanner.
func (j jsonCol) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("store: cannot scan %T as json", v)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, j.dst)
}
