package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
)

// migration is one schema version. Statements use the neutral types that
// dialect.ddl expands; the checksum covers the expanded text, so editing an
// applied migration is detected at the next start.
type migration struct {
	version int
	name    string
	stmts   []string
	only    string // a dialect's name: the statements run on that backend alone (elsewhere the version is empty)
}

// migrations is append-only: never edit or reorder an entry once released.
var migrations = []migration{
	{version: 1, name: "initial schema", stmts: []string{
		`CREATE TABLE budgets (
			budget_id TEXT PRIMARY KEY,
			max_budget {money},
			soft_budget {money},
			max_parallel_requests {int},
			tpm_limit {int},
			rpm_limit {int},
			model_max_budget {json} NOT NULL,
			budget_duration TEXT,
			budget_reset_at {time},
			created_at {time} NOT NULL,
			updated_at {time} NOT NULL
		)`,
		`CREATE TABLE teams (
			team_id TEXT PRIMARY KEY,
			team_alias TEXT,
			models {jsonarr} NOT NULL,
			max_budget {money},
			spend {money} NOT NULL DEFAULT 0,
			budget_duration TEXT,
			budget_reset_at {time},
			tpm_limit {int},
			rpm_limit {int},
			max_parallel_requests {int},
			blocked {bool} NOT NULL DEFAULT {false},
			metadata {json} NOT NULL,
			created_at {time} NOT NULL,
			updated_at {time} NOT NULL
		)`,
		`CREATE TABLE users (
			user_id TEXT PRIMARY KEY,
			user_email TEXT,
			user_role TEXT,
			teams {jsonarr} NOT NULL,
			models {jsonarr} NOT NULL,
			max_budget {money},
			spend {money} NOT NULL DEFAULT 0,
			budget_duration TEXT,
			budget_reset_at {time},
			tpm_limit {int},
			rpm_limit {int},
			max_parallel_requests {int},
			metadata {json} NOT NULL,
			created_at {time} NOT NULL,
			updated_at {time} NOT NULL
		)`,
		`CREATE TABLE keys (
			token TEXT PRIMARY KEY,
			key_alias TEXT,
			key_name TEXT,
			team_id TEXT REFERENCES teams (team_id) ON DELETE CASCADE,
			user_id TEXT,
			models {jsonarr} NOT NULL,
			max_budget {money},
			soft_budget {money},
			spend {money} NOT NULL DEFAULT 0,
			budget_duration TEXT,
			budget_reset_at {time},
			expires {time},
			tpm_limit {int},
			rpm_limit {int},
			max_parallel_requests {int},
			model_max_budget {json} NOT NULL,
			model_rpm_limit {json} NOT NULL,
			model_tpm_limit {json} NOT NULL,
			aliases {json} NOT NULL,
			metadata {json} NOT NULL,
			blocked {bool} NOT NULL DEFAULT {false},
			created_at {time} NOT NULL,
			updated_at {time} NOT NULL
		)`,
		`CREATE UNIQUE INDEX keys_key_alias ON keys (key_alias)`,
		`CREATE INDEX keys_team_id ON keys (team_id)`,
		`CREATE INDEX keys_user_id ON keys (user_id)`,
		`CREATE INDEX keys_budget_reset_at ON keys (budget_reset_at)`,
		`CREATE INDEX teams_budget_reset_at ON teams (budget_reset_at)`,
		`CREATE INDEX users_budget_reset_at ON users (budget_reset_at)`,
		`CREATE TABLE customers (
			user_id TEXT PRIMARY KEY,
			alias TEXT,
			blocked {bool} NOT NULL DEFAULT {false},
			max_budget {money},
			spend {money} NOT NULL DEFAULT 0,
			budget_id TEXT REFERENCES budgets (budget_id) ON DELETE SET NULL,
			budget_duration TEXT,
			budget_reset_at {time},
			tpm_limit {int},
			rpm_limit {int},
			metadata {json} NOT NULL,
			created_at {time} NOT NULL,
			updated_at {time} NOT NULL
		)`,
		`CREATE INDEX customers_budget_reset_at ON customers (budget_reset_at)`,
		`CREATE TABLE spend_logs (
			request_id TEXT NOT NULL UNIQUE,
			api_key TEXT NOT NULL DEFAULT '',
			key_alias TEXT NOT NULL DEFAULT '',
			team_id TEXT NOT NULL DEFAULT '',
			user_id TEXT NOT NULL DEFAULT '',
			end_user TEXT NOT NULL DEFAULT '',
			model_group TEXT NOT NULL DEFAULT '',
			model TEXT NOT NULL DEFAULT '',
			deployment_id TEXT NOT NULL DEFAULT '',
			provider TEXT NOT NULL DEFAULT '',
			call_type TEXT NOT NULL DEFAULT '',
			prompt_tokens {int} NOT NULL DEFAULT 0,
			completion_tokens {int} NOT NULL DEFAULT 0,
			total_tokens {int} NOT NULL DEFAULT 0,
			cached_tokens {int} NOT NULL DEFAULT 0,
			spend {money} NOT NULL DEFAULT 0,
			start_time {time} NOT NULL,
			end_time {time} NOT NULL,
			latency_ms {int} NOT NULL DEFAULT 0,
			status TEXT NOT NULL DEFAULT '',
			cache_hit {bool} NOT NULL DEFAULT {false},
			metadata {json} NOT NULL,
			request_tags {jsonarr} NOT NULL
		)`,
		`CREATE INDEX spend_logs_start_time ON spend_logs (start_time)`,
		`CREATE INDEX spend_logs_api_key_start_time ON spend_logs (api_key, start_time)`,
		`CREATE INDEX spend_logs_team_id_start_time ON spend_logs (team_id, start_time)`,
		`CREATE INDEX spend_logs_model_group_start_time ON spend_logs (model_group, start_time)`,
		`CREATE INDEX spend_logs_user_id_start_time ON spend_logs (user_id, start_time)`,
	}},
	{version: 2, name: "keys: allowed_cache_controls", stmts: []string{
		`ALTER TABLE keys ADD COLUMN allowed_cache_controls {jsonarr} NOT NULL DEFAULT '[]'`,
	}},
	// Every index of spend_logs is written with every row the ledger delivers, which made the indexes most of
	// the cost of recording a request. Rows without a team or user (most, where keys are not grouped) are
	// left out of those indexes; queries by team or user name the same condition so they can use them. The
	// model group index goes: the model filter is "model_group = ? OR model = ?", which it could not serve.
	{version: 3, name: "spend_logs: lighter indexes", stmts: []string{
		`DROP INDEX spend_logs_model_group_start_time`,
		`DROP INDEX spend_logs_team_id_start_time`,
		`DROP INDEX spend_logs_user_id_start_time`,
		`CREATE INDEX spend_logs_team_id_start_time ON spend_logs (team_id, start_time) WHERE team_id <> ''`,
		`CREATE INDEX spend_logs_user_id_start_time ON spend_logs (user_id, start_time) WHERE user_id <> ''`,
	}},
	// SQLite keeps spend logs in blocks (spendblocks.go); Open moves rows left in spend_logs into them.
	{version: 4, name: "spend logs in blocks (SQLite)", only: "sqlite", stmts: []string{
		`CREATE TABLE spend_log_ids (request_id TEXT PRIMARY KEY) WITHOUT ROWID`,
		`CREATE TABLE spend_log_blocks (
			id INTEGER PRIMARY KEY,
			min_start INTEGER NOT NULL,
			max_start INTEGER NOT NULL,
			rows INTEGER NOT NULL,
			data BLOB NOT NULL
		)`,
		`CREATE INDEX spend_log_blocks_max_start ON spend_log_blocks (max_start)`,
	}},
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

func (m migration) expanded(d dialect) []string {
	if m.only != "" && m.only != d.name() {
		return nil
	}
	out := make([]string, len(m.stmts))
	for i, s := range m.stmts {
		out[i] = d.ddl(s)
	}
	return out
}

func (m migration) checksum(d dialect) string {
	h := sha256.New()
	for _, s := range m.expanded(d) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// migrate brings the schema up to date in one transaction. It refuses a
// database whose schema is newer than this binary or whose applied
// migrations differ from the compiled ones, leaving it untouched.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if l := s.d.migrationLock(); l != "" {
			if _, err := tx.ExecContext(ctx, l); err != nil {
				return fmt.Errorf("store: migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.ddl(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version {int} PRIMARY KEY,
			name TEXT NOT NULL,
			checksum TEXT NOT NULL,
			applied_at {time} NOT NULL
		)`)); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		applied := map[int]string{}
		rows, err := s.query(ctx, tx, `SELECT version, checksum FROM schema_migrations ORDER BY version`)
		if err != nil {
			return fmt.Errorf("store: read schema_migrations: %w", err)
		}
		for rows.Next() {
			var v int
			var sum string
			if err := rows.Scan(&v, &sum); err != nil {
				rows.Close()
				return fmt.Errorf("store: read schema_migrations: %w", err)
			}
			applied[v] = sum
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: read schema_migrations: %w", err)
		}
		latest := SchemaVersion()
		for v := range applied {
			if v > latest {
				return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade Switchyard or restore a matching database",
					ErrSchemaNewer, v, latest)
			}
		}
		for _, m := range migrations {
			want := m.checksum(s.d)
			if got, ok := applied[m.version]; ok {
				if got != want {
					return fmt.Errorf("%w: migration %d (%s) has checksum %s in the database, %s in this binary",
						ErrSchemaModified, m.version, m.name, short(got), short(want))
				}
				continue
			}
			for _, stmt := range m.expanded(s.d) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
				m.version, m.name, want, s.d.timeArg(s.now())); err != nil {
				return fmt.Errorf("store: record migration %d: %w", m.version, err)
			}
			s.log.Info("store: applied schema migration", "backend", s.d.name(), "version", m.version, "name", m.name)
		}
		return nil
	})
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}
