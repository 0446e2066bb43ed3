package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const pgAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// backends runs fn once per database backend, in parallel subtests, each
// with a URL of its own fresh, empty database.
func backends(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, "sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, freshPostgres(t))
	})
}

// each runs fn against a freshly opened store of each backend.
func each(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	backends(t, func(t *testing.T, url string) {
		fn(t, openT(t, url))
	})
}

func openT(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freshPostgres creates a uniquely named database on the local server and
// drops it when the test ends. Without a reachable server the test is
// skipped, unless CI=true, where it fails.
func freshPostgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := openPostgres(pgAdminURL)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		msg := "PostgreSQL not reachable at 127.0.0.1:5432 (user postgres, trust auth): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping the PostgreSQL backend (set CI=true to make this a failure)")
	}
	var b [8]byte
	rand.Read(b[:])
	name := "sw_test_" + hex.EncodeToString(b[:])
	// Identifiers cannot be parameters; name is generated above from hex only.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// fixedClock makes s report now as its current time.
func fixedClock(s *Store, now time.Time) { s.now = func() time.Time { return now } }

// spendCount is the number of spend logs stored: rows of spend_logs, and on SQLite the rows of its blocks.
func spendCount(ctx context.Context, s *Store) (int, error) {
	n, err := s.count(ctx, "SELECT COUNT(*) FROM spend_logs")
	if err != nil || !s.packed() {
		return n, err
	}
	var packed int
	err = s.queryRow(ctx, s.r, "SELECT COALESCE(SUM(rows), 0) FROM spend_log_blocks").Scan(&packed)
	return n + packed, err
}
