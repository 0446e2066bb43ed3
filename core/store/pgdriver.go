package store

import (
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres returns a *sql.DB for a postgres:// URL, through pgx's database/sql adapter.
func openPostgres(rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse postgres url %s: invalid", redactURL(rawURL))
	}
	return stdlib.OpenDB(*cfg), nil
}
