// Package store is Switchyard's durable state: virtual keys, teams, users,
// customers (end users), budgets and the spend ledger.
//
// One Store type serves both backends. SQLite (pure Go, modernc.org/sqlite)
// is the default for a single machine; PostgreSQL (pgx) is used when several
// replicas share state. Every difference between the two dialects —
// placeholders, column types, date arithmetic, error codes — is resolved in
// dialect.go so that the repository methods are written once. Schema
// migrations are applied by Open inside one transaction and fail closed.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	// The "sqlite" database/sql driver (pure Go).
	_ "modernc.org/sqlite"
)

// DefaultSQLitePath is the database file used when Open is given an empty URL.
const DefaultSQLitePath = "switchyard.db"

// Errors returned by the repository methods; test them with errors.Is.
var (
	// ErrNotFound means the addressed row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a row with the same unique identifier (id, token,
	// key alias, request id) already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrReference means a referenced row (for example a key's team) does not exist.
	ErrReference = errors.New("store: referenced row does not exist")
	// ErrSchemaNewer means the database was migrated by a newer binary; the
	// store refuses to open it rather than run against an unknown schema.
	ErrSchemaNewer = errors.New("store: database schema is newer than this binary")
	// ErrSchemaModified means an applied migration's checksum differs from
	// the one compiled into this binary.
	ErrSchemaModified = errors.New("store: applied migration differs from this binary's")
)

// Store is a handle on the state database. It is safe for concurrent use.
type Store struct {
	d   dialect
	w   *sql.DB // writes (SQLite: exactly one connection)
	r   *sql.DB // reads (SQLite: a read-only pool; PostgreSQL: same as w)
	log *slog.Logger
	now func() time.Time

	// spendIDs and spendBlock record a batch of spend logs on SQLite (spendIDsPlainSQL, spendBlockSQL), prepared
	// at Open.
	spendIDs, spendBlock *sql.Stmt
}

// Open connects to the database named by rawURL, applies pending schema
// migrations and returns the store.
//
// rawURL selects the backend: "" (DefaultSQLitePath), a file path or
// "sqlite://path" open SQLite in WAL mode with a busy timeout, foreign keys
// on and a single writer connection; "postgres://..." or "postgresql://..."
// open PostgreSQL through pgx's database/sql adapter (pgx/v5/stdlib). log may be nil.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Store{log: log, now: time.Now}
	var err error
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s.d = postgres{}
		s.w, err = openPostgres(rawURL)
		if err != nil {
			return nil, err
		}
		s.w.SetMaxOpenConns(20)
		s.w.SetMaxIdleConns(10)
		s.w.SetConnMaxIdleTime(5 * time.Minute)
		s.r = s.w
	default:
		path := strings.TrimPrefix(rawURL, "sqlite://")
		if path == "" {
			path = DefaultSQLitePath
		}
		if strings.Contains(path, "?") {
			return nil, fmt.Errorf("store: sqlite path must not carry query parameters: %q", path)
		}
		if err := s.openSQLite(path); err != nil {
			return nil, err
		}
	}
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: connect %s: %w", s.d.name(), scrub(err, rawURL))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Prepared here, outside any transaction: SQLite's writer has one connection, which a transaction holds.
	// (PostgreSQL takes a batch by COPY, or carefully as one statement of arrays: nothing to prepare.)
	if s.packed() {
		if s.spendIDs, err = s.w.PrepareContext(ctx, spendIDsPlainSQL); err == nil {
			s.spendBlock, err = s.w.PrepareContext(ctx, spendBlockSQL)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: prepare the spend log insert: %w", s.d.mapErr(err))
		}
		if err := s.packLegacySpendLogs(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) openSQLite(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: sqlite path: %w", err)
	}
	s.d = sqlite{}
	base := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	// The writer is created first so that it switches the file to WAL before
	// any reader opens it. _txlock=immediate takes the write lock at BEGIN, so
	// a transaction never has to upgrade a read lock (the classic source of
	// "database is locked" under concurrency). synchronous(FULL) syncs the WAL
	// at every commit: the spend ledger drops rows from its outbox once their
	// transaction commits, so a commit must survive a power loss too (NORMAL
	// may roll the last ones back). Ledger batches are large, so this is a
	// few syncs a second.
	//
	// A new database gets 16 KiB pages, set before WAL mode (which fixes the
	// page size): a spend-log batch then writes a quarter as many WAL frames,
	// each one or two pwrite calls, and recording a row costs about 12% less
	// (BenchmarkInsertSpendLogs/sqlite, docs/benchmarks.md). A database
	// created with 4 KiB pages keeps them.
	s.w, err = sql.Open("sqlite", base+"&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if _, err := s.w.Exec("PRAGMA page_size = 16384; PRAGMA journal_mode = WAL"); err != nil {
		s.w.Close()
		return fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	s.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.w.Close()
		return fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	return nil
}

// Close releases the database connections.
func (s *Store) Close() error {
	var err error
	for _, st := range []*sql.Stmt{s.spendIDs, s.spendBlock} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	if s.r != nil && s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.w != nil {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

// Backend reports which database the store uses: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name() }

// Ping checks that the database is reachable (for health and degraded-state reporting).
func (s *Store) Ping(ctx context.Context) error { return s.w.PingContext(ctx) }

// exec runs a write statement written with ? placeholders.
func (s *Store) exec(ctx context.Context, q sqlExecer, query string, args ...any) (sql.Result, error) {
	res, err := q.ExecContext(ctx, s.d.rebind(query), args...)
	return res, s.d.mapErr(err)
}

type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type sqlQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) query(ctx context.Context, q sqlQueryer, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.QueryContext(ctx, s.d.rebind(query), args...)
	return rows, s.d.mapErr(err)
}

func (s *Store) queryRow(ctx context.Context, q sqlQueryer, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.d.rebind(query), args...)
}

// tx runs fn in a write transaction, committing when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.txOn(ctx, nil, fn) }

// txOn is tx on conn (nil: any connection of the pool).
func (s *Store) txOn(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	var tx *sql.Tx
	var err error
	if conn != nil {
		tx, err = conn.BeginTx(ctx, nil)
	} else {
		tx, err = s.w.BeginTx(ctx, nil)
	}
	if err != nil {
		return s.d.mapErr(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return s.d.mapErr(tx.Commit())
}

// redactURL removes the password from a database URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable database url>"
	}
	return u.Redacted()
}

// scrub replaces any password of rawURL that a driver error may echo.
func scrub(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}
