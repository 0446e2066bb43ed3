package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const teamCols = "team_id, team_alias, models, max_budget, spend, budget_duration, budget_reset_at, tpm_limit, " +
	"rpm_limit, max_parallel_requests, blocked, metadata, created_at, updated_at"

func scanTeam(r rowScanner) (Team, error) {
	var t Team
	var alias, dur sql.NullString
	var maxB sql.Null[float64]
	var tpm, rpm, par sql.Null[int64]
	var reset, created, updated dbTime
	err := r.Scan(&t.TeamID, &alias, jsonCol{&t.Models}, &maxB, &t.Spend, &dur, &reset, &tpm, &rpm, &par,
		&t.Blocked, jsonCol{&t.Metadata}, &created, &updated)
	if err != nil {
		return Team{}, err
	}
	t.TeamAlias, t.BudgetDuration, t.MaxBudget = alias.String, dur.String, ptr(maxB)
	t.TPMLimit, t.RPMLimit, t.MaxParallelRequests = ptr(tpm), ptr(rpm), ptr(par)
	t.BudgetResetAt, t.CreatedAt, t.UpdatedAt = reset.t, created.val(), updated.val()
	return t, nil
}

// CreateTeam stores a new team and returns it; ErrConflict if the id exists.
func (s *Store) CreateTeam(ctx context.Context, t Team) (Team, error) {
	if t.TeamID == "" {
		return Team{}, errors.New("store: team_id is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	reset, err := initialReset(t.BudgetDuration, t.BudgetResetAt, now)
	if err != nil {
		return Team{}, err
	}
	a := &args{d: s.d}
	a.v(t.TeamID).v(nstr(t.TeamAlias)).j(t.Models, "[]").v(nullable(t.MaxBudget)).v(t.Spend).
		v(nstr(t.BudgetDuration)).t(reset).v(nullable(t.TPMLimit)).v(nullable(t.RPMLimit)).
		v(nullable(t.MaxParallelRequests)).v(t.Blocked).j(t.Metadata, "{}").t(&now).t(&now)
	if err := s.insert(ctx, "teams", teamCols, a); err != nil {
		return Team{}, err
	}
	return s.GetTeam(ctx, t.TeamID)
}

// GetTeam returns the team, or ErrNotFound.
func (s *Store) GetTeam(ctx context.Context, teamID string) (Team, error) {
	return getOne(ctx, s, scanTeam, "team", teamID, "SELECT "+teamCols+" FROM teams WHERE team_id = ?", teamID)
}

// UpdateTeam applies a partial update and returns the team; ErrNotFound if there is none.
func (s *Store) UpdateTeam(ctx context.Context, teamID string, u TeamUpdate) (Team, error) {
	st := &setter{args: args{d: s.d}}
	setOpt(st, "team_alias", u.TeamAlias, nstrAny)
	setJSONOpt(st, "models", u.Models, "[]")
	setOpt(st, "max_budget", u.MaxBudget, optPtr)
	setOpt(st, "spend", u.Spend, same)
	st.setBudgetSchedule(u.BudgetDuration, u.BudgetResetAt, s.now())
	setOpt(st, "tpm_limit", u.TPMLimit, optPtr)
	setOpt(st, "rpm_limit", u.RPMLimit, optPtr)
	setOpt(st, "max_parallel_requests", u.MaxParallelRequests, optPtr)
	setOpt(st, "blocked", u.Blocked, same)
	setJSONOpt(st, "metadata", u.Metadata, "{}")
	if err := s.update(ctx, "teams", "team_id", teamID, st); err != nil {
		return Team{}, err
	}
	return s.GetTeam(ctx, teamID)
}

// DeleteTeams deletes teams and, with them, their keys (as LiteLLM does).
// It returns how many teams existed.
func (s *Store) DeleteTeams(ctx context.Context, teamIDs []string) (int64, error) {
	return s.deleteIDs(ctx, "teams", "team_id", teamIDs)
}

// ListTeams returns one page of teams, oldest first, and the total count.
func (s *Store) ListTeams(ctx context.Context, p Page) ([]Team, int, error) {
	total, err := s.count(ctx, "SELECT COUNT(*) FROM teams")
	if err != nil {
		return nil, 0, err
	}
	limit, offset := p.limitOffset()
	teams, err := list(ctx, s, scanTeam, "SELECT "+teamCols+" FROM teams ORDER BY created_at, team_id LIMIT ? OFFSET ?", limit, offset)
	return teams, total, err
}
