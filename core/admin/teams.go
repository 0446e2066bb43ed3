package admin

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountTeams(r fiber.Router) {
	r.Post("/team/new", a.route(adminOnly, a.teamNew))
	r.Post("/team/update", a.route(adminOnly, a.teamUpdate))
	r.Post("/team/delete", a.route(adminOnly, a.teamDelete))
	r.Get("/team/info", a.route(selfService, a.teamInfo))
	r.Get("/team/list", a.route(adminOnly, a.teamList))
	r.Post("/team/member_add", a.route(adminOnly, a.memberAdd))
	r.Post("/team/member_delete", a.route(adminOnly, a.memberDelete))
}

// membersKey is where a team's members and their roles are kept in its metadata (the store has no column for
// them); it is hidden from the metadata the API shows and preserved when an update replaces the metadata.
const membersKey = "_switchyard_members_with_roles"

// member is one entry of a team's members_with_roles.
type member struct {
	Role      string `json:"role"`
	UserID    string `json:"user_id,omitempty"`
	UserEmail string `json:"user_email,omitempty"`
}

// teamJSON is a team as LiteLLM shows it (its team table row).
type teamJSON struct {
	TeamID              string         `json:"team_id"`
	TeamAlias           *string        `json:"team_alias"`
	Models              []string       `json:"models"`
	MaxBudget           *float64       `json:"max_budget"`
	Spend               float64        `json:"spend"`
	BudgetDuration      *string        `json:"budget_duration"`
	BudgetResetAt       *time.Time     `json:"budget_reset_at"`
	TPMLimit            *int64         `json:"tpm_limit"`
	RPMLimit            *int64         `json:"rpm_limit"`
	MaxParallelRequests *int64         `json:"max_parallel_requests"`
	Blocked             bool           `json:"blocked"`
	Metadata            map[string]any `json:"metadata"`
	MembersWithRoles    []member       `json:"members_with_roles"`
	Admins              []string       `json:"admins"`
	Members             []string       `json:"members"`
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
}

func teamView(t store.Team) teamJSON {
	ms := teamMembers(t)
	v := teamJSON{
		TeamID: t.TeamID, TeamAlias: nullable(t.TeamAlias), Models: nonNilList(t.Models), MaxBudget: t.MaxBudget,
		Spend: t.Spend, BudgetDuration: nullable(t.BudgetDuration), BudgetResetAt: t.BudgetResetAt,
		TPMLimit: t.TPMLimit, RPMLimit: t.RPMLimit, MaxParallelRequests: t.MaxParallelRequests, Blocked: t.Blocked,
		Metadata: publicMetadata(t.Metadata), MembersWithRoles: ms, Admins: []string{}, Members: []string{},
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
	for _, m := range ms {
		if m.Role == "admin" {
			v.Admins = append(v.Admins, m.UserID)
		} else {
			v.Members = append(v.Members, m.UserID)
		}
	}
	return v
}

func (a *API) liveTeamView(ctx context.Context, t store.Team) teamJSON {
	t.Spend = a.live(ctx, "team", t.TeamID, t.Spend)
	return teamView(t)
}

// teamMembers reads the member list kept in a team's metadata.
func teamMembers(t store.Team) []member {
	ms := []member{}
	v, ok := t.Metadata[membersKey]
	if !ok {
		return ms
	}
	b, err := json.Marshal(v)
	if err == nil {
		_ = json.Unmarshal(b, &ms) // a damaged list reads as empty rather than failing every team read
	}
	return ms
}

// publicMetadata is the metadata without the member list.
func publicMetadata(md map[string]any) map[string]any {
	out := make(map[string]any, len(md))
	for k, v := range md {
		if k != membersKey {
			out[k] = v
		}
	}
	return out
}

// withMembers is md with the member list set to ms.
func withMembers(md map[string]any, ms []member) map[string]any {
	out := publicMetadata(md)
	if len(ms) > 0 {
		out[membersKey] = ms
	}
	return out
}

// readMembers reads a member or a list of members from field name.
func readMembers(r *reader, name string) []member {
	raw, ok := r.f[name]
	if !ok || r.err != nil {
		return nil
	}
	var ms []member
	if err := json.Unmarshal(raw, &ms); err != nil {
		var one member
		if err := json.Unmarshal(raw, &one); err != nil {
			r.fail(name, name+" must be a member {\"role\", \"user_id\" or \"user_email\"} or a list of them.")
			return nil
		}
		ms = []member{one}
	}
	for i := range ms {
		if ms[i].Role == "" {
			ms[i].Role = "user"
		}
		if ms[i].Role != "admin" && ms[i].Role != "user" {
			r.fail(name+".role", "A member's role must be \"admin\" or \"user\".")
		}
		if ms[i].UserID == "" && ms[i].UserEmail == "" {
			r.fail(name, "A member needs a user_id or a user_email.")
		}
	}
	return ms
}

// readTeamUpdate reads the settings a team request may carry.
func readTeamUpdate(r *reader) store.TeamUpdate {
	return store.TeamUpdate{
		TeamAlias:           read[string](r, "team_alias"),
		Models:              read[[]string](r, "models"),
		MaxBudget:           money(r, "max_budget"),
		Spend:               spend(r),
		BudgetDuration:      budgetDuration(r, "budget_duration"),
		TPMLimit:            limit(r, "tpm_limit"),
		RPMLimit:            limit(r, "rpm_limit"),
		MaxParallelRequests: limit(r, "max_parallel_requests"),
		Blocked:             read[bool](r, "blocked"),
		Metadata:            read[map[string]any](r, "metadata"),
	}
}

func (a *API) getTeam(ctx context.Context, id, param string) (store.Team, error) {
	t, err := a.st.GetTeam(ctx, id)
	return t, a.fail(err, on(store.ErrNotFound, notFound(param, "Team "+id+" not found.")))
}

// teamNew answers POST /team/new; team_id is generated when not given.
func (a *API) teamNew(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := str(r, "team_id")
	u := readTeamUpdate(r)
	ms := readMembers(r, "members_with_roles")
	if r.err != nil {
		return r.err
	}
	if id == "" {
		id = newID()
	}
	t := store.Team{TeamID: id}
	set(&t.TeamAlias, u.TeamAlias)
	set(&t.Models, u.Models)
	set(&t.MaxBudget, u.MaxBudget)
	set(&t.Spend, u.Spend)
	set(&t.BudgetDuration, u.BudgetDuration)
	set(&t.TPMLimit, u.TPMLimit)
	set(&t.RPMLimit, u.RPMLimit)
	set(&t.MaxParallelRequests, u.MaxParallelRequests)
	set(&t.Blocked, u.Blocked)
	t.Metadata = publicMetadata(u.Metadata.V)
	created, err := a.st.CreateTeam(q.ctx, t)
	if err != nil {
		return a.classify(err, on(store.ErrConflict, badField("team_id", "Team "+id+" already exists.")))
	}
	a.changed("team", id)
	if len(ms) > 0 {
		if created, _, err = a.addMembers(q.ctx, created, ms); err != nil {
			return err
		}
	}
	return writeJSON(c, teamView(created))
}

// teamUpdate answers POST /team/update with {"team_id", "data": team}.
func (a *API) teamUpdate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "team_id")
	u := readTeamUpdate(r)
	if r.err != nil {
		return r.err
	}
	if u.Metadata.Set {
		old, err := a.getTeam(q.ctx, id, "team_id")
		if err != nil {
			return err
		}
		u.Metadata.V = withMembers(u.Metadata.V, teamMembers(old))
	}
	t, err := a.st.UpdateTeam(q.ctx, id, u)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("team_id", "Team "+id+" not found.")))
	}
	if u.Spend.Set {
		a.hooks.SetSpend(q.ctx, "team", id, u.Spend.V)
	}
	a.changed("team", id)
	return writeJSON(c, fiber.Map{"team_id": id, "data": teamView(t)})
}

// teamDelete answers POST /team/delete {"team_ids": [...]}. The teams' keys go with them (as in LiteLLM) and
// their members leave them. Every team must exist, or none is deleted.
func (a *API) teamDelete(c *fiber.Ctx, q *request) error {
	ids, err := idList(c.Body(), "team_ids")
	if err != nil {
		return err
	}
	var keys, users []string
	for _, id := range ids {
		t, err := a.getTeam(q.ctx, id, "team_ids")
		if err != nil {
			return err
		}
		for _, m := range teamMembers(t) {
			users = append(users, m.UserID)
		}
		err = a.eachKey(q.ctx, store.KeyFilter{TeamID: id}, func(k store.Key) bool {
			keys = append(keys, k.Token)
			return true
		})
		if err != nil {
			return a.fail(err)
		}
	}
	if _, err := a.st.DeleteTeams(q.ctx, ids); err != nil {
		return a.fail(err)
	}
	a.changed("team", ids...)
	a.changed("key", keys...)
	for _, uid := range users {
		a.leaveTeams(q.ctx, uid, ids)
	}
	return writeJSON(c, fiber.Map{"deleted_teams": ids})
}

// leaveTeams removes teams from a user's list; a failure is logged, the teams being gone already.
func (a *API) leaveTeams(ctx context.Context, userID string, teamIDs []string) {
	u, err := a.st.GetUser(ctx, userID)
	if err != nil {
		return
	}
	kept := slices.DeleteFunc(slices.Clone(u.Teams), func(t string) bool { return slices.Contains(teamIDs, t) })
	if len(kept) == len(u.Teams) {
		return
	}
	if _, err := a.st.UpdateUser(ctx, userID, store.UserUpdate{Teams: store.Some(kept)}); err != nil {
		a.log.Error("admin: removing deleted teams from a user", "error", err)
		return
	}
	a.changed("user", userID)
}

// teamInfo answers GET /team/info?team_id=: an admin may read any team, another key only its own (the default).
func (a *API) teamInfo(c *fiber.Ctx, q *request) error {
	id := query(c, "team_id")
	if id == "" {
		id = q.p.TeamID
	}
	if id == "" {
		return badField("team_id", "team_id is required.")
	}
	if !q.p.Admin && id != q.p.TeamID {
		return forbidden("A key may only read its own team.")
	}
	t, err := a.getTeam(q.ctx, id, "team_id")
	if err != nil {
		return err
	}
	keys := []keyJSON{}
	err = a.eachKey(q.ctx, store.KeyFilter{TeamID: id}, func(k store.Key) bool {
		keys = append(keys, a.liveKeyView(q.ctx, k))
		return true
	})
	if err != nil {
		return a.fail(err)
	}
	return writeJSON(c, fiber.Map{"team_id": id, "team_info": a.liveTeamView(q.ctx, t), "keys": keys})
}

// teamList answers GET /team/list: every team, or (user_id=) the teams a user is a member of.
func (a *API) teamList(c *fiber.Ctx, q *request) error {
	uid := query(c, "user_id")
	out := []teamJSON{}
	err := forEachPage(q.ctx, a.st.ListTeams, func(t store.Team) bool {
		v := teamView(t)
		if uid == "" || slices.ContainsFunc(v.MembersWithRoles, func(m member) bool { return m.UserID == uid }) {
			out = append(out, v)
		}
		return true
	})
	if err != nil {
		return a.fail(err)
	}
	return writeJSON(c, out)
}

// memberAdd answers POST /team/member_add {"team_id", "member": member or [members]}. A member named by a user
// that does not exist yet is created, as LiteLLM does; a member already in the team gets the new role.
func (a *API) memberAdd(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "team_id")
	ms := readMembers(r, "member")
	if r.err == nil && len(ms) == 0 {
		r.fail("member", "member is required.")
	}
	if r.err != nil {
		return r.err
	}
	t, err := a.getTeam(q.ctx, id, "team_id")
	if err != nil {
		return err
	}
	t, users, err := a.addMembers(q.ctx, t, ms)
	if err != nil {
		return err
	}
	views := make([]userJSON, 0, len(users))
	for _, u := range users {
		views = append(views, userView(u))
	}
	return writeJSON(c, struct {
		teamJSON
		UpdatedUsers []userJSON `json:"updated_users"`
	}{teamView(t), views})
}

// addMembers adds ms to team t, creating missing users and adding the team to each user's list.
func (a *API) addMembers(ctx context.Context, t store.Team, ms []member) (store.Team, []store.User, error) {
	list := teamMembers(t)
	var users []store.User
	for _, m := range ms {
		u, err := a.memberUser(ctx, m, t.TeamID)
		if err != nil {
			return t, nil, err
		}
		m.UserID = u.UserID
		if m.UserEmail == "" {
			m.UserEmail = u.UserEmail
		}
		i := slices.IndexFunc(list, func(x member) bool { return x.UserID == m.UserID })
		if i >= 0 {
			list[i] = m
		} else {
			list = append(list, m)
		}
		users = append(users, u)
		a.changed("user", u.UserID)
	}
	t, err := a.st.UpdateTeam(ctx, t.TeamID, store.TeamUpdate{Metadata: store.Some(withMembers(t.Metadata, list))})
	if err != nil {
		return t, nil, a.fail(err)
	}
	a.changed("team", t.TeamID)
	return t, users, nil
}

// memberUser finds (or creates) the user a member names and makes sure the team is in its list.
func (a *API) memberUser(ctx context.Context, m member, teamID string) (store.User, error) {
	var u store.User
	var err error
	if m.UserID != "" {
		u, err = a.st.GetUser(ctx, m.UserID)
	} else {
		u, err = a.userByEmail(ctx, m.UserEmail)
	}
	switch {
	case err == nil:
		if slices.Contains(u.Teams, teamID) {
			return u, nil
		}
		u, err = a.st.UpdateUser(ctx, u.UserID, store.UserUpdate{Teams: store.Some(append(slices.Clone(u.Teams), teamID))})
		return u, a.fail(err)
	case isNotFound(err):
		id := m.UserID
		if id == "" {
			id = newID()
		}
		u, err = a.st.CreateUser(ctx, store.User{UserID: id, UserEmail: m.UserEmail, UserRole: "internal_user", Teams: []string{teamID}})
		return u, a.fail(err)
	}
	return u, a.fail(err)
}

// memberDelete answers POST /team/member_delete {"team_id", "user_id" or "user_email"}.
func (a *API) memberDelete(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	id := required(r, "team_id")
	uid, email := str(r, "user_id"), str(r, "user_email")
	if r.err == nil && uid == "" && email == "" {
		r.fail("user_id", "user_id or user_email is required.")
	}
	if r.err != nil {
		return r.err
	}
	t, err := a.getTeam(q.ctx, id, "team_id")
	if err != nil {
		return err
	}
	list := teamMembers(t)
	i := slices.IndexFunc(list, func(m member) bool {
		return uid != "" && m.UserID == uid || uid == "" && m.UserEmail == email
	})
	if i < 0 {
		return notFound("user_id", "The user is not a member of team "+id+".")
	}
	uid = list[i].UserID
	list = slices.Delete(list, i, i+1)
	t, err = a.st.UpdateTeam(q.ctx, id, store.TeamUpdate{Metadata: store.Some(withMembers(t.Metadata, list))})
	if err != nil {
		return a.fail(err)
	}
	a.changed("team", id)
	a.leaveTeams(q.ctx, uid, []string{id})
	return writeJSON(c, teamView(t))
}
