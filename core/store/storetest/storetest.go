// Package storetest gives tests fresh databases of each backend the store supports: a SQLite file in the test's
// temporary directory and a uniquely named PostgreSQL database on the local server, dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"

	// The "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// AdminURL is the local PostgreSQL server the tests use (trust auth).
const AdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SQLite returns the URL of a fresh SQLite database file.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "state.db")
}

// Postgres creates a uniquely named database on the local server and returns its URL; the database is dropped
// when the test ends. Without a reachable server the test is skipped, unless CI=true, where it fails.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", AdminURL)
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
		t.Skip(msg + "; skipping (set CI=true to make this a failure)")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
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

// Each runs fn once per backend, in parallel subtests named "sqlite" and "postgres", each with a freshly opened
// store of its own.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", SQLite}, {"postgres", Postgres}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s, err := store.Open(context.Background(), b.url(t), nil)
			if err != nil {
				t.Fatalf("store.Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}
