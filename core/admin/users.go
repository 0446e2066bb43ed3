package admin

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountUsers(r fiber.Router) {
	r.Post("/user/new", a.route(adminOnly, a.userNew))
	r.Post("/user/update", a.route(adminOnly, a.userUpdate))
	r.Post("/user/delete", a.route(adminOnly, a.userDelete))
	r.Get("/user/info", a.route(selfService, a.userInfo))
	r.Get("/user/list", a.route(adminOnly, a.userList))
}

// userRoles are LiteLLM's user roles.
var userRoles = []string{"proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer", "team", "customer"}

// userJSON is a user as LiteLLM shows it (its user table row).
type userJSON struct {
	UserID              string         `json:"user_id"`
	UserEmail           *string        `json:"user_email"`
	UserRole            *string        `json:"user_role"`
	Teams               []string       `json:"teams"`
	Models              []string       `json:"models"`
	MaxBudget           *float64       `json:"max_budget"`
	Spend               float64        `json:"spend"`
	BudgetDuration      *string        `json:"budget_duration"`
	BudgetResetAt       *time.Time     `json:"budget_reset_at"`
	TPMLimit            *int64         `json:"tpm_limit"`
	RPMLimit            *int64         `json:"rpm_limit"`
	MaxParallelRequests *int64         `json:"max_parallel_requests"`
	Metadata            map[string]any `json:"metadata"`
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
}

func userView(u store.User) userJSON {
	return userJSON{
		UserID: u.UserID, UserEmail: nullable(u.UserEmail), UserRole: nullable(u.UserRole), Teams: nonNilList(u.Teams),
		Models: nonNilList(u.Models), MaxBudget: u.MaxBudget, Spend: u.Spend, BudgetDuration: nullable(u.BudgetDuration),
		BudgetResetAt: u.BudgetResetAt, TPMLimit: u.TPMLimit, RPMLimit: u.RPMLimit,
		MaxParallelRequests: u.MaxParallelRequests, Metadata: nonNilMap(u.Metadata),
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

// newUserJSON answers /user/new: the user and, as in LiteLLM, the key created for it (the only time that key
// is shown).
type newUserJSON struct {
	userJSON
	Key      string     `json:"key,omitempty"`
	KeyName  string     `json:"key_name,omitempty"`
	Token    string     `json:"token,omitempty"`
	KeyAlias *string    `json:"key_alias"`
	Expires  *time.Time `json:"expires"`
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// readUserUpdate reads the settings a user request may carry.
func readUserUpdate(r *reader) store.UserUpdate {
	u := store.UserUpdate{
		UserEmail:           read[string](r, "user_email"),
		UserRole:            read[string](r, "user_role"),
		Models:              read[[]string](r, "models"),
		MaxBudget:           money(r, "max_budget"),
		Spend:               spend(r),
		BudgetDuration:      budgetDuration(r, "budget_duration"),
		TPMLimit:            limit(r, "tpm_limit"),
		RPMLimit:            limit(r, "rpm_limit"),
		MaxParallelRequests: limit(r, "max_parallel_requests"),
		Metadata:            read[map[string]any](r, "metadata"),
	}
	if u.UserRole.V != "" && !slices.Contains(userRoles, u.UserRole.V) {
		r.fail("user_role", "user_role must be one of proxy_admin, proxy_admin_viewer, internal_user, "+
			"internal_user_viewer, team, customer.")
	}
	return u
}

// userByEmail finds a user by email; ErrNotFound if none has it.
func (a *API) userByEmail(ctx context.Context, email string) (store.User, error) {
	var found *store.User
	err := forEachPage(ctx, a.st.ListUsers, func(u store.User) bool {
		if u.UserEmail == email {
			found = &u
		}
		return found == nil
	})
	if err != nil {
		return store.User{}, err
	}
	if found == nil {
		return store.User{}, store.ErrNotFound
	}
	return *found, nil
}

// userNew answers POST /user/new: user_id is generated when not given; unless auto_create_key is false, a key
// for the user is generated too (with the user's models; "key_alias" and "duration" apply to it).
func (a *API) userNew(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := str(r, "user_id")
	u := readUserUpdate(r)
	teams := strList(r, "teams")
	alias := str(r, "key_alias")
	expires := expiry(r, "duration", a.now())
	autoKey := read[*bool](r, "auto_create_key").V
	if r.err != nil {
		return r.err
	}
	teamRows := make([]store.Team, 0, len(teams))
	for _, t := range teams {
		row, err := a.getTeam(q.ctx, t, "teams")
		if err != nil {
			return err
		}
		teamRows = append(teamRows, row)
	}
	if id == "" {
		id = newID()
	}
	row := store.User{UserID: id}
	set(&row.UserEmail, u.UserEmail)
	set(&row.UserRole, u.UserRole)
	set(&row.Models, u.Models)
	set(&row.MaxBudget, u.MaxBudget)
	set(&row.Spend, u.Spend)
	set(&row.BudgetDuration, u.BudgetDuration)
	set(&row.TPMLimit, u.TPMLimit)
	set(&row.RPMLimit, u.RPMLimit)
	set(&row.MaxParallelRequests, u.MaxParallelRequests)
	set(&row.Metadata, u.Metadata)
	created, err := a.st.CreateUser(q.ctx, row)
	if err != nil {
		return a.classify(err, on(store.ErrConflict, badField("user_id", "User "+id+" already exists.")))
	}
	a.changed("user", id)
	for _, t := range teamRows {
		if _, _, err := a.addMembers(q.ctx, t, []member{{Role: "user", UserID: id}}); err != nil {
			return err
		}
	}
	if len(teamRows) > 0 {
		if created, err = a.st.GetUser(q.ctx, id); err != nil {
			return a.fail(err)
		}
	}
	out := newUserJSON{userJSON: userView(created)}
	if autoKey == nil || *autoKey {
		raw := newKey()
		k := store.Key{Token: store.HashKey(raw), KeyName: store.MaskKey(raw), KeyAlias: alias, UserID: id,
			Models: created.Models, Expires: expires.V}
		key, err := a.createKey(q.ctx, k, "key")
		if err != nil {
			return err
		}
		a.changed("key", key.Token)
		out.Key, out.KeyName, out.Token, out.KeyAlias, out.Expires = raw, key.KeyName, key.Token, nullable(key.KeyAlias), key.Expires
	}
	return writeJSON(c, out)
}

// userID reads the user a request names, by user_id or (failing that) user_email.
func (a *API) userID(ctx context.Context, r *reader) (string, error) {
	id, email := str(r, "user_id"), str(r, "user_email")
	if r.err != nil {
		return "", r.err
	}
	if id != "" {
		return id, nil
	}
	if email == "" {
		return "", badField("user_id", "user_id or user_email is required.")
	}
	u, err := a.userByEmail(ctx, email)
	if err != nil {
		return "", a.fail(err, on(store.ErrNotFound, notFound("user_email", "No user has user_email "+email+".")))
	}
	return u.UserID, nil
}

// userUpdate answers POST /user/update with {"user_id", "data": user}.
func (a *API) userUpdate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	byEmail := !r.has("user_id")
	u := readUserUpdate(r)
	if r.err != nil {
		return r.err
	}
	if byEmail {
		u.UserEmail = store.Opt[string]{} // it names the user here
	}
	id, err := a.userID(q.ctx, r)
	if err != nil {
		return err
	}
	row, err := a.st.UpdateUser(q.ctx, id, u)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("user_id", "User "+id+" not found.")))
	}
	if u.Spend.Set {
		a.hooks.SetSpend(q.ctx, "user", id, u.Spend.V)
	}
	a.changed("user", id)
	return writeJSON(c, fiber.Map{"user_id": id, "data": userView(row)})
}

// userDelete answers POST /user/delete {"user_ids": [...]}: the users, their keys (as in LiteLLM) and their
// team memberships go. Every user must exist, or none is deleted.
func (a *API) userDelete(c *fiber.Ctx, q *request) error {
	ids, err := idList(c.Body(), "user_ids")
	if err != nil {
		return err
	}
	var keys []string
	teams := map[string]bool{}
	for _, id := range ids {
		u, err := a.st.GetUser(q.ctx, id)
		if err != nil {
			return a.fail(err, on(store.ErrNotFound, notFound("user_ids", "User "+id+" not found.")))
		}
		for _, t := range u.Teams {
			teams[t] = true
		}
		err = a.eachKey(q.ctx, store.KeyFilter{UserID: id}, func(k store.Key) bool {
			keys = append(keys, k.Token)
			return true
		})
		if err != nil {
			return a.fail(err)
		}
	}
	if _, err := a.st.DeleteUsers(q.ctx, ids); err != nil {
		return a.fail(err)
	}
	a.changed("user", ids...)
	a.changed("key", keys...)
	for t := range teams {
		a.dropMembers(q.ctx, t, ids)
	}
	return writeJSON(c, fiber.Map{"deleted_users": ids})
}

// dropMembers removes deleted users from a team's member list; a failure is logged, the users being gone.
func (a *API) dropMembers(ctx context.Context, teamID string, userIDs []string) {
	t, err := a.st.GetTeam(ctx, teamID)
	if err != nil {
		return
	}
	list := teamMembers(t)
	kept := slices.DeleteFunc(slices.Clone(list), func(m member) bool { return slices.Contains(userIDs, m.UserID) })
	if len(kept) == len(list) {
		return
	}
	if _, err := a.st.UpdateTeam(ctx, teamID, store.TeamUpdate{Metadata: store.Some(withMembers(t.Metadata, kept))}); err != nil {
		a.log.Error("admin: removing deleted users from a team", "error", err)
		return
	}
	a.changed("team", teamID)
}

// userInfo answers GET /user/info?user_id=: the user, its keys and its teams. An admin may read any user,
// another key only its own user (the default), and of it only the keys and team of the caller's team.
func (a *API) userInfo(c *fiber.Ctx, q *request) error {
	id := query(c, "user_id")
	if id == "" {
		id = q.p.UserID
	}
	if id == "" {
		return badField("user_id", "user_id is required.")
	}
	if !q.p.Admin && id != q.p.UserID {
		return forbidden("A key may only read its own user.")
	}
	u, err := a.st.GetUser(q.ctx, id)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("user_id", "User "+id+" not found.")))
	}
	u.Spend = a.live(q.ctx, "user", id, u.Spend)
	// A non-admin key sees only its own team's side of its user: never another team's keys or spend.
	visible := func(team string) bool { return q.p.Admin || team == "" || team == q.p.TeamID }
	keys := []keyJSON{}
	err = a.eachKey(q.ctx, store.KeyFilter{UserID: id}, func(k store.Key) bool {
		if visible(k.TeamID) {
			keys = append(keys, a.liveKeyView(q.ctx, k))
		}
		return true
	})
	if err != nil {
		return a.fail(err)
	}
	teams := []teamJSON{}
	for _, tid := range u.Teams {
		if !visible(tid) {
			continue
		}
		t, err := a.st.GetTeam(q.ctx, tid)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return a.fail(err)
		}
		teams = append(teams, a.liveTeamView(q.ctx, t))
	}
	return writeJSON(c, fiber.Map{"user_id": id, "user_info": userView(u), "keys": keys, "teams": teams})
}

// userList answers GET /user/list?page=&page_size=.
func (a *API) userList(c *fiber.Ctx, q *request) error {
	page, err := intQuery(c, "page", 1, 1<<30)
	if err != nil {
		return err
	}
	size, err := intQuery(c, "page_size", 25, 1000)
	if err != nil {
		return err
	}
	users, total, err := a.st.ListUsers(q.ctx, store.Page{Page: page, PageSize: size})
	if err != nil {
		return a.fail(err)
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, userView(u))
	}
	return writeJSON(c, fiber.Map{"users": out, "total": total, "page": page, "page_size": size, "total_pages": pages(total, size)})
}
