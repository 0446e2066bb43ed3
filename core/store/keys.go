package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const keyCols = "token, key_alias, key_name, team_id, user_id, models, max_budget, soft_budget, spend, " +
	"budget_duration, budget_reset_at, expires, tpm_limit, rpm_limit, max_parallel_requests, model_max_budget, " +
	"model_rpm_limit, model_tpm_limit, aliases, metadata, blocked, created_at, updated_at, allowed_cache_controls"

func scanKey(r rowScanner) (Key, error) {
	var k Key
	var alias, name, team, user, dur sql.NullString
	var maxB, softB sql.Null[float64]
	var tpm, rpm, par sql.Null[int64]
	var reset, exp, created, updated dbTime
	err := r.Scan(&k.Token, &alias, &name, &team, &user, jsonCol{&k.Models}, &maxB, &softB, &k.Spend,
		&dur, &reset, &exp, &tpm, &rpm, &par, jsonCol{&k.ModelMaxBudget},
		jsonCol{&k.ModelRPMLimit}, jsonCol{&k.ModelTPMLimit}, jsonCol{&k.Aliases}, jsonCol{&k.Metadata},
		&k.Blocked, &created, &updated, jsonCol{&k.AllowedCacheControls})
	if err != nil {
		return Key{}, err
	}
	k.KeyAlias, k.KeyName, k.TeamID, k.UserID, k.BudgetDuration = alias.String, name.String, team.String, user.String, dur.String
	k.MaxBudget, k.SoftBudget = ptr(maxB), ptr(softB)
	k.TPMLimit, k.RPMLimit, k.MaxParallelRequests = ptr(tpm), ptr(rpm), ptr(par)
	k.BudgetResetAt, k.Expires = reset.t, exp.t
	k.CreatedAt, k.UpdatedAt = created.val(), updated.val()
	if len(k.AllowedCacheControls) == 0 {
		k.AllowedCacheControls = nil
	}
	return k, nil
}

// CreateKey stores a new key. k.Token must be the hash of the key
// (HashKey); CreatedAt and UpdatedAt are set to now, and BudgetResetAt is
// scheduled from BudgetDuration when not given. It returns the stored key;
// ErrConflict if the token or alias exists, ErrReference if the team does not.
func (s *Store) CreateKey(ctx context.Context, k Key) (Key, error) {
	if k.Token == "" {
		return Key{}, errors.New("store: key token is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	reset, err := initialReset(k.BudgetDuration, k.BudgetResetAt, now)
	if err != nil {
		return Key{}, err
	}
	k.BudgetResetAt, k.CreatedAt, k.UpdatedAt = reset, now, now
	a := &args{d: s.d}
	a.v(k.Token).v(nstr(k.KeyAlias)).v(nstr(k.KeyName)).v(nstr(k.TeamID)).v(nstr(k.UserID)).j(k.Models, "[]").
		v(nullable(k.MaxBudget)).v(nullable(k.SoftBudget)).v(k.Spend).v(nstr(k.BudgetDuration)).t(k.BudgetResetAt).
		t(k.Expires).v(nullable(k.TPMLimit)).v(nullable(k.RPMLimit)).v(nullable(k.MaxParallelRequests)).
		j(k.ModelMaxBudget, "{}").j(k.ModelRPMLimit, "{}").j(k.ModelTPMLimit, "{}").j(k.Aliases, "{}").
		j(k.Metadata, "{}").v(k.Blocked).t(&now).t(&now).j(k.AllowedCacheControls, "[]")
	if err := s.insert(ctx, "keys", keyCols, a); err != nil {
		return Key{}, err
	}
	return s.GetKeyByToken(ctx, k.Token)
}

// GetKeyByToken returns the key whose hash is token, or ErrNotFound.
func (s *Store) GetKeyByToken(ctx context.Context, token string) (Key, error) {
	return getOne(ctx, s, scanKey, "key", token, "SELECT "+keyCols+" FROM keys WHERE token = ?", token)
}

// UpdateKey applies a partial update to the key whose hash is token and
// returns the updated key; ErrNotFound if there is none.
func (s *Store) UpdateKey(ctx context.Context, token string, u KeyUpdate) (Key, error) {
	st := &setter{args: args{d: s.d}}
	setOpt(st, "key_alias", u.KeyAlias, nstrAny)
	setOpt(st, "team_id", u.TeamID, nstrAny)
	setOpt(st, "user_id", u.UserID, nstrAny)
	setJSONOpt(st, "models", u.Models, "[]")
	setOpt(st, "max_budget", u.MaxBudget, optPtr)
	setOpt(st, "soft_budget", u.SoftBudget, optPtr)
	setOpt(st, "spend", u.Spend, same)
	st.setBudgetSchedule(u.BudgetDuration, u.BudgetResetAt, s.now())
	setOpt(st, "expires", u.Expires, func(t *time.Time) any { return optTime(s.d, t) })
	setOpt(st, "tpm_limit", u.TPMLimit, optPtr)
	setOpt(st, "rpm_limit", u.RPMLimit, optPtr)
	setOpt(st, "max_parallel_requests", u.MaxParallelRequests, optPtr)
	setJSONOpt(st, "model_max_budget", u.ModelMaxBudget, "{}")
	setJSONOpt(st, "model_rpm_limit", u.ModelRPMLimit, "{}")
	setJSONOpt(st, "model_tpm_limit", u.ModelTPMLimit, "{}")
	setJSONOpt(st, "aliases", u.Aliases, "{}")
	setJSONOpt(st, "metadata", u.Metadata, "{}")
	setJSONOpt(st, "allowed_cache_controls", u.AllowedCacheControls, "[]")
	setOpt(st, "blocked", u.Blocked, same)
	if err := s.update(ctx, "keys", "token", token, st); err != nil {
		return Key{}, err
	}
	return s.GetKeyByToken(ctx, token)
}

// DeleteKeys deletes the keys with the given hashes and returns how many existed.
func (s *Store) DeleteKeys(ctx context.Context, tokens []string) (int64, error) {
	return s.deleteIDs(ctx, "keys", "token", tokens)
}

// BlockKey sets or clears a key's blocked flag; ErrNotFound if there is no such key.
func (s *Store) BlockKey(ctx context.Context, token string, blocked bool) error {
	_, err := s.UpdateKey(ctx, token, KeyUpdate{Blocked: Some(blocked)})
	return err
}

// ListKeys returns one page of keys, oldest first, optionally filtered by
// team and user, and the total number of matching keys.
func (s *Store) ListKeys(ctx context.Context, f KeyFilter) ([]Key, int, error) {
	var w where
	if f.TeamID != "" {
		w.add("team_id = ?", f.TeamID)
	}
	if f.UserID != "" {
		w.add("user_id = ?", f.UserID)
	}
	total, err := s.count(ctx, "SELECT COUNT(*) FROM keys"+w.String(), w.vals...)
	if err != nil {
		return nil, 0, err
	}
	limit, offset := f.limitOffset()
	keys, err := list(ctx, s, scanKey, "SELECT "+keyCols+" FROM keys"+w.String()+
		" ORDER BY created_at, token LIMIT ? OFFSET ?", append(w.vals, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list keys: %w", err)
	}
	return keys, total, nil
}

func nstrAny(s string) any { return nstr(s) }
