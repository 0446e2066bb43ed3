package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMigrations(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := openT(t, url)
		var n, v int
		if err := s.queryRow(ctx, s.r, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || v != SchemaVersion() {
			t.Fatalf("schema_migrations: %d rows, max version %d; want %d, %d", n, v, len(migrations), SchemaVersion())
		}
		if _, err := s.CreateTeam(ctx, Team{TeamID: "kept"}); err != nil {
			t.Fatal(err)
		}
		s.Close()

		// Re-opening applies nothing and keeps the data.
		s = openT(t, url)
		if err := s.queryRow(ctx, s.r, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(migrations) {
			t.Fatalf("after reopen: %d rows, %v", n, err)
		}
		if _, err := s.GetTeam(ctx, "kept"); err != nil {
			t.Fatalf("data lost on reopen: %v", err)
		}

		// A database migrated by a newer binary is refused.
		if _, err := s.exec(ctx, s.w, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
			SchemaVersion()+1, "from the future", "x", s.d.timeArg(time.Now())); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := Open(ctx, url, nil); !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprint(SchemaVersion()+1)) {
			t.Fatalf("newer schema: err = %v, want ErrSchemaNewer naming the version", err)
		}

		// A changed migration is refused.
		raw := rawDB(t, url)
		if _, err := raw.ExecContext(ctx, s.d.rebind("DELETE FROM schema_migrations WHERE version = ?"), SchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, s.d.rebind("UPDATE schema_migrations SET checksum = ? WHERE version = 1"), "0123456789abcdef"); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, url, nil); !errors.Is(err, ErrSchemaModified) {
			t.Fatalf("modified migration: err = %v, want ErrSchemaModified", err)
		}
	})
}

// rawDB opens the database without migrating, for tampering with it.
func rawDB(t *testing.T, url string) interface {
	ExecContext(context.Context, string, ...any) (interface{ RowsAffected() (int64, error) }, error)
} {
	t.Helper()
	s := &Store{now: time.Now}
	var err error
	if strings.HasPrefix(url, "postgres") {
		s.d = postgres{}
		s.w, err = openPostgres(url)
		s.r = s.w
	} else {
		err = s.openSQLite(strings.TrimPrefix(url, "sqlite://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return execAdapter{s}
}

type execAdapter struct{ s *Store }

func (e execAdapter) ExecContext(ctx context.Context, q string, a ...any) (interface{ RowsAffected() (int64, error) }, error) {
	return e.s.w.ExecContext(ctx, q, a...)
}

func fullKey(token, team, user string) Key {
	exp := t0.Add(48 * time.Hour)
	return Key{
		Token: token, KeyAlias: "alias-" + token, KeyName: "sk-...abcd", TeamID: team, UserID: user,
		Models: []string{"gpt-4o", "claude"}, MaxBudget: f64(10.5), SoftBudget: f64(8), Spend: 0.25,
		BudgetDuration: "30d", Expires: &exp, TPMLimit: i64(1000), RPMLimit: i64(60), MaxParallelRequests: i64(4),
		ModelMaxBudget: map[string]float64{"gpt-4o": 2.5}, ModelRPMLimit: map[string]int64{"gpt-4o": 10},
		ModelTPMLimit: map[string]int64{"gpt-4o": 100}, Aliases: map[string]string{"fast": "gpt-4o"},
		Metadata: map[string]any{"env": "prod", "n": 3.0, "nested": map[string]any{"a": []any{"b"}}},
	}
}

// A new SQLite database has 16 KiB pages and WAL; one made with 4 KiB pages keeps them, in WAL, when opened.
func TestSQLitePagesAndJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		file, setup string
		page        int
	}{{"new.db", "", 16384}, {"old.db", "PRAGMA page_size = 4096; CREATE TABLE t (x)", 4096}} {
		path := filepath.Join(dir, tc.file)
		if tc.setup != "" {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.setup); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
		s := openT(t, "sqlite://"+path)
		var page int
		var mode string
		if err := s.w.QueryRow("PRAGMA page_size").Scan(&page); err != nil {
			t.Fatal(err)
		}
		if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if page != tc.page || mode != "wal" {
			t.Errorf("%s: page size %d, journal %q; want %d, wal", tc.file, page, mode, tc.page)
		}
		s.Close()
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		fixedClock(s, t0)
		if _, err := s.CreateTeam(ctx, Team{TeamID: "t1"}); err != nil {
			t.Fatal(err)
		}
		want := fullKey(HashKey("sk-one"), "t1", "u1")
		got, err := s.CreateKey(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		reset := t0.Add(30 * 24 * time.Hour).Truncate(time.Microsecond)
		want.BudgetResetAt, want.CreatedAt, want.UpdatedAt = &reset, t0.Truncate(time.Microsecond), t0.Truncate(time.Microsecond)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("created key\n got %+v\nwant %+v", got, want)
		}
		if g2, err := s.GetKeyByToken(ctx, want.Token); err != nil || !reflect.DeepEqual(g2, want) {
			t.Fatalf("GetKeyByToken = %+v, %v", g2, err)
		}
		if _, err := s.GetKeyByToken(ctx, HashKey("nope")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing key: %v", err)
		}
		if _, err := s.CreateKey(ctx, want); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate token: %v", err)
		}
		dupAlias := Key{Token: HashKey("sk-two"), KeyAlias: want.KeyAlias}
		if _, err := s.CreateKey(ctx, dupAlias); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate alias: %v", err)
		}
		if _, err := s.CreateKey(ctx, Key{Token: HashKey("sk-three"), TeamID: "no-such-team"}); !errors.Is(err, ErrReference) {
			t.Fatalf("unknown team: %v", err)
		}
		if _, err := s.CreateKey(ctx, Key{Token: HashKey("sk-four"), BudgetDuration: "fortnightly"}); err == nil {
			t.Fatal("invalid budget_duration accepted")
		}
		// A minimal key reads back with empty, non-nil collections.
		min, err := s.CreateKey(ctx, Key{Token: HashKey("sk-min")})
		if err != nil {
			t.Fatal(err)
		}
		if min.Models == nil || min.Metadata == nil || min.MaxBudget != nil || min.Expires != nil || min.BudgetResetAt != nil || min.TeamID != "" {
			t.Fatalf("minimal key = %+v", min)
		}

		// Partial update: only the named fields change.
		later := t0.Add(time.Hour)
		fixedClock(s, later)
		up, err := s.UpdateKey(ctx, want.Token, KeyUpdate{
			KeyAlias: Some("renamed"), MaxBudget: Some[*float64](nil), RPMLimit: Some(i64(5)),
			BudgetDuration: Some("daily"), Metadata: Some(map[string]any{"x": "y"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		exp := want
		exp.KeyAlias, exp.MaxBudget, exp.RPMLimit, exp.BudgetDuration = "renamed", nil, i64(5), "daily"
		nextDay := time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
		exp.BudgetResetAt, exp.Metadata, exp.UpdatedAt = &nextDay, map[string]any{"x": "y"}, later.Truncate(time.Microsecond)
		if !reflect.DeepEqual(up, exp) {
			t.Fatalf("updated key\n got %+v\nwant %+v", up, exp)
		}
		if _, err := s.UpdateKey(ctx, HashKey("nope"), KeyUpdate{KeyAlias: Some("x")}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if _, err := s.UpdateKey(ctx, want.Token, KeyUpdate{BudgetDuration: Some("7x")}); err == nil {
			t.Fatal("invalid budget_duration accepted on update")
		}

		if err := s.BlockKey(ctx, want.Token, true); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.GetKeyByToken(ctx, want.Token); !k.Blocked {
			t.Fatal("key not blocked")
		}
		if err := s.BlockKey(ctx, want.Token, false); err != nil {
			t.Fatal(err)
		}
		if k, _ := s.GetKeyByToken(ctx, want.Token); k.Blocked {
			t.Fatal("key still blocked")
		}
		if err := s.BlockKey(ctx, HashKey("nope"), true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("block missing: %v", err)
		}

		// Listing, paging and filters.
		for i := range 5 {
			fixedClock(s, t0.Add(time.Duration(i+2)*time.Hour))
			if _, err := s.CreateKey(ctx, Key{Token: HashKey(fmt.Sprint("sk-list-", i)), TeamID: "t1", UserID: fmt.Sprint("u", i%2)}); err != nil {
				t.Fatal(err)
			}
		}
		all, total, err := s.ListKeys(ctx, KeyFilter{})
		if err != nil || total != 7 || len(all) != 7 {
			t.Fatalf("ListKeys all: %d keys, total %d, %v", len(all), total, err)
		}
		page2, total, err := s.ListKeys(ctx, KeyFilter{TeamID: "t1", Page: Page{Page: 2, PageSize: 2}})
		if err != nil || total != 6 || len(page2) != 2 {
			t.Fatalf("ListKeys team page 2: %d keys, total %d, %v", len(page2), total, err)
		}
		page1, _, _ := s.ListKeys(ctx, KeyFilter{TeamID: "t1", Page: Page{Page: 1, PageSize: 2}})
		if page1[0].Token != want.Token || page2[0].Token == page1[1].Token {
			t.Fatalf("pages overlap or are out of order: %v %v", page1, page2)
		}
		u0, total, err := s.ListKeys(ctx, KeyFilter{TeamID: "t1", UserID: "u0"})
		if err != nil || total != 3 || len(u0) != 3 {
			t.Fatalf("ListKeys team+user: %d, total %d, %v", len(u0), total, err)
		}

		n, err := s.DeleteKeys(ctx, []string{want.Token, HashKey("nope")})
		if err != nil || n != 1 {
			t.Fatalf("DeleteKeys = %d, %v", n, err)
		}
		if _, err := s.GetKeyByToken(ctx, want.Token); !errors.Is(err, ErrNotFound) {
			t.Fatal("deleted key still there")
		}
		// Deleting a team deletes its keys.
		if n, err := s.DeleteTeams(ctx, []string{"t1"}); err != nil || n != 1 {
			t.Fatalf("DeleteTeams = %d, %v", n, err)
		}
		if _, total, _ := s.ListKeys(ctx, KeyFilter{}); total != 1 {
			t.Fatalf("after team delete %d keys remain, want only the team-less one", total)
		}
	})
}

func TestTeamsUsersCustomersBudgets(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		fixedClock(s, t0)
		now := t0.Truncate(time.Microsecond)

		team := Team{TeamID: "team-a", TeamAlias: "A", Models: []string{"m"}, MaxBudget: f64(100), BudgetDuration: "monthly",
			TPMLimit: i64(1), RPMLimit: i64(2), MaxParallelRequests: i64(3), Blocked: true, Metadata: map[string]any{"k": "v"}}
		got, err := s.CreateTeam(ctx, team)
		if err != nil {
			t.Fatal(err)
		}
		apr := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
		team.BudgetResetAt, team.CreatedAt, team.UpdatedAt = &apr, now, now
		if !reflect.DeepEqual(got, team) {
			t.Fatalf("team\n got %+v\nwant %+v", got, team)
		}
		if _, err := s.CreateTeam(ctx, team); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate team: %v", err)
		}
		upd, err := s.UpdateTeam(ctx, "team-a", TeamUpdate{Blocked: Some(false), Models: Some([]string{"x", "y"})})
		if err != nil || upd.Blocked || !reflect.DeepEqual(upd.Models, []string{"x", "y"}) || upd.TeamAlias != "A" {
			t.Fatalf("UpdateTeam = %+v, %v", upd, err)
		}
		if _, err := s.UpdateTeam(ctx, "none", TeamUpdate{Blocked: Some(true)}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing team: %v", err)
		}
		if _, err := s.GetTeam(ctx, "none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get missing team: %v", err)
		}
		s.CreateTeam(ctx, Team{TeamID: "team-b"})
		teams, total, err := s.ListTeams(ctx, Page{PageSize: 1})
		if err != nil || total != 2 || len(teams) != 1 || teams[0].TeamID != "team-a" {
			t.Fatalf("ListTeams = %v, %d, %v", teams, total, err)
		}

		user := User{UserID: "u1", UserEmail: "a@example.com", UserRole: "internal_user", Teams: []string{"team-a"},
			Models: []string{"m"}, MaxBudget: f64(5), BudgetDuration: "30s", TPMLimit: i64(1), RPMLimit: i64(2),
			MaxParallelRequests: i64(3), Metadata: map[string]any{}}
		gotU, err := s.CreateUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		r := now.Add(30 * time.Second)
		user.BudgetResetAt, user.CreatedAt, user.UpdatedAt = &r, now, now
		if !reflect.DeepEqual(gotU, user) {
			t.Fatalf("user\n got %+v\nwant %+v", gotU, user)
		}
		if _, err := s.CreateUser(ctx, user); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate user: %v", err)
		}
		uu, err := s.UpdateUser(ctx, "u1", UserUpdate{UserRole: Some("proxy_admin"), Spend: Some(1.5), BudgetDuration: Some("")})
		if err != nil || uu.UserRole != "proxy_admin" || uu.Spend != 1.5 || uu.BudgetDuration != "" || uu.BudgetResetAt != nil || uu.UserEmail != user.UserEmail {
			t.Fatalf("UpdateUser = %+v, %v", uu, err)
		}
		if _, err := s.CreateKey(ctx, Key{Token: HashKey("sk-u1"), UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		users, total, err := s.ListUsers(ctx, Page{})
		if err != nil || total != 1 || len(users) != 1 {
			t.Fatalf("ListUsers = %v, %d, %v", users, total, err)
		}
		if n, err := s.DeleteUsers(ctx, []string{"u1", "ghost"}); err != nil || n != 1 {
			t.Fatalf("DeleteUsers = %d, %v", n, err)
		}
		if _, err := s.GetKeyByToken(ctx, HashKey("sk-u1")); !errors.Is(err, ErrNotFound) {
			t.Fatal("user's key survived user deletion")
		}
		if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, ErrNotFound) {
			t.Fatal("user survived deletion")
		}

		b, err := s.CreateBudget(ctx, Budget{BudgetID: "b1", MaxBudget: f64(3), SoftBudget: f64(2), TPMLimit: i64(7),
			ModelMaxBudget: map[string]float64{"m": 1}, BudgetDuration: "1mo"})
		if err != nil || b.BudgetResetAt == nil || !b.BudgetResetAt.Equal(now.AddDate(0, 1, 0)) || b.ModelMaxBudget["m"] != 1 {
			t.Fatalf("CreateBudget = %+v, %v", b, err)
		}
		if _, err := s.CreateBudget(ctx, Budget{BudgetID: "b1"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate budget: %v", err)
		}
		if b, err := s.UpdateBudget(ctx, "b1", BudgetUpdate{RPMLimit: Some(i64(9))}); err != nil || *b.RPMLimit != 9 || *b.TPMLimit != 7 {
			t.Fatalf("UpdateBudget = %+v, %v", b, err)
		}
		if bs, total, err := s.ListBudgets(ctx, Page{}); err != nil || total != 1 || len(bs) != 1 {
			t.Fatalf("ListBudgets = %v, %d, %v", bs, total, err)
		}

		c, err := s.CreateCustomer(ctx, Customer{UserID: "end-1", Alias: "Alice", MaxBudget: f64(1), BudgetID: "b1", RPMLimit: i64(3)})
		if err != nil || c.Alias != "Alice" || c.BudgetID != "b1" || *c.RPMLimit != 3 || c.Metadata == nil {
			t.Fatalf("CreateCustomer = %+v, %v", c, err)
		}
		if _, err := s.CreateCustomer(ctx, Customer{UserID: "end-2", BudgetID: "no-budget"}); !errors.Is(err, ErrReference) {
			t.Fatalf("customer with unknown budget: %v", err)
		}
		if err := s.BlockCustomer(ctx, "end-1", true); err != nil {
			t.Fatal(err)
		}
		if c, _ := s.GetCustomer(ctx, "end-1"); !c.Blocked {
			t.Fatal("customer not blocked")
		}
		if c, err := s.UpdateCustomer(ctx, "end-1", CustomerUpdate{Alias: Some("Al"), Blocked: Some(false)}); err != nil || c.Alias != "Al" || c.Blocked {
			t.Fatalf("UpdateCustomer = %+v, %v", c, err)
		}
		if cs, total, err := s.ListCustomers(ctx, Page{}); err != nil || total != 1 || len(cs) != 1 {
			t.Fatalf("ListCustomers = %v, %d, %v", cs, total, err)
		}
		// Deleting a budget unlinks its customers.
		if n, err := s.DeleteBudgets(ctx, []string{"b1"}); err != nil || n != 1 {
			t.Fatalf("DeleteBudgets = %d, %v", n, err)
		}
		if c, _ := s.GetCustomer(ctx, "end-1"); c.BudgetID != "" {
			t.Fatalf("customer still linked to deleted budget: %+v", c)
		}
		if n, err := s.DeleteCustomers(ctx, []string{"end-1"}); err != nil || n != 1 {
			t.Fatalf("DeleteCustomers = %d, %v", n, err)
		}
		if _, err := s.GetCustomer(ctx, "end-1"); !errors.Is(err, ErrNotFound) {
			t.Fatal("customer survived deletion")
		}
	})
}

func spendRow(id string, spend float64, at time.Time) SpendLog {
	return SpendLog{
		RequestID: id, APIKey: HashKey("sk-spend"), KeyAlias: "spender", TeamID: "team-s", UserID: "user-s",
		EndUser: "cust-s", ModelGroup: "gpt-4o", Model: "gpt-4o-2024-08-06", DeploymentID: "dep-1", Provider: "openai",
		CallType: "chat", PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, CachedTokens: 2, Spend: spend,
		StartTime: at, EndTime: at.Add(1500 * time.Millisecond), LatencyMS: 1500, Status: "success", CacheHit: true,
		Metadata: map[string]any{"tags": "ab"}, RequestTags: []string{"a", "b"},
	}
}

func seedSpendOwners(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateTeam(ctx, Team{TeamID: "team-s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, User{UserID: "user-s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, Key{Token: HashKey("sk-spend"), TeamID: "team-s", UserID: "user-s"}); err != nil {
		t.Fatal(err)
	}
}

func checkOwnerSpend(t *testing.T, s *Store, want float64) {
	t.Helper()
	ctx := context.Background()
	k, err1 := s.GetKeyByToken(ctx, HashKey("sk-spend"))
	tm, err2 := s.GetTeam(ctx, "team-s")
	u, err3 := s.GetUser(ctx, "user-s")
	c, err4 := s.GetCustomer(ctx, "cust-s")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]float64{"key": k.Spend, "team": tm.Spend, "user": u.Spend, "customer": c.Spend} {
		if !near(got, want) {
			t.Errorf("%s spend = %v, want %v", name, got, want)
		}
	}
}

func TestInsertSpendLogsIdempotent(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedSpendOwners(t, s)
		batch := []SpendLog{spendRow("r1", 0.5, t0), spendRow("r2", 0.25, t0.Add(time.Second)), spendRow("r3", 0.125, t0.Add(2*time.Second))}
		n, err := s.InsertSpendLogs(ctx, batch)
		if err != nil || n != 3 {
			t.Fatalf("first insert = %d, %v", n, err)
		}
		n, err = s.InsertSpendLogs(ctx, batch)
		if err != nil || n != 0 {
			t.Fatalf("second insert = %d, %v; want 0 new", n, err)
		}
		// A batch overlapping the stored rows, with a duplicate inside itself.
		n, err = s.InsertSpendLogs(ctx, []SpendLog{spendRow("r3", 0.125, t0), spendRow("r4", 1, t0), spendRow("r4", 1, t0)})
		if err != nil || n != 1 {
			t.Fatalf("overlapping insert = %d, %v; want 1 new", n, err)
		}
		checkOwnerSpend(t, s, 1.875)
		logs, err := s.SpendLogs(ctx, SpendFilter{Start: t0, End: t0.Add(time.Hour), Limit: 4})
		if err != nil || len(logs) != 4 {
			t.Fatalf("SpendLogs = %d rows, %v", len(logs), err)
		}
		want := spendRow("r3", 0.125, t0.Add(2*time.Second))
		want.StartTime, want.EndTime = want.StartTime.Truncate(time.Microsecond), want.EndTime.Truncate(time.Microsecond)
		if !reflect.DeepEqual(logs[0], want) {
			t.Fatalf("newest row\n got %+v\nwant %+v", logs[0], want)
		}
		if _, err := s.InsertSpendLogs(ctx, []SpendLog{{Spend: 1}}); err == nil {
			t.Fatal("row without request id accepted")
		}
		// Batches larger than one statement's chunk: delivered again, and with one row already stored.
		var big []SpendLog
		for i := range 107 {
			big = append(big, spendRow(fmt.Sprintf("big-%03d", i), 0, t0))
		}
		for i, want := range []int{len(big), 0} {
			if n, err := s.InsertSpendLogs(ctx, big); err != nil || n != want {
				t.Fatalf("large batch, delivery %d = %d, %v; want %d new", i+1, n, err, want)
			}
		}
		more := append([]SpendLog{spendRow("big-050", 0, t0)}, spendRow("big-new", 0, t0))
		if n, err := s.InsertSpendLogs(ctx, more); err != nil || n != 1 {
			t.Fatalf("batch with a stored row = %d, %v; want 1 new", n, err)
		}
		// Rows for owners that do not exist are kept; only the customer is created.
		orphan := SpendLog{RequestID: "orphan", APIKey: "gone", TeamID: "gone", UserID: "gone", EndUser: "new-cust", Spend: 2, StartTime: t0}
		if n, err := s.InsertSpendLogs(ctx, []SpendLog{orphan}); err != nil || n != 1 {
			t.Fatalf("orphan insert = %d, %v", n, err)
		}
		if c, err := s.GetCustomer(ctx, "new-cust"); err != nil || c.Spend != 2 {
			t.Fatalf("auto-created customer = %+v, %v", c, err)
		}
	})
}

func TestSQLMetacharacters(t *testing.T) {
	t.Parallel()
	evil := []string{
		`'; DROP TABLE keys; --`,
		`" OR "1"="1`,
		`x'); DELETE FROM spend_logs; --`,
		`?$1 \ %_ ; -- /* */`,
		`Ωmega 日本語 🚀 'quoted' "double"`,
	}
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, e := range evil {
			id := fmt.Sprint(e, i)
			team, err := s.CreateTeam(ctx, Team{TeamID: id, TeamAlias: e, Models: []string{e}, BudgetDuration: "daily", Metadata: map[string]any{e: e}})
			if err != nil || team.TeamID != id || team.TeamAlias != e || team.Models[0] != e || team.Metadata[e] != e {
				t.Fatalf("team %q = %+v, %v", e, team, err)
			}
			user, err := s.CreateUser(ctx, User{UserID: id, UserEmail: e, UserRole: e, Teams: []string{e}, Metadata: map[string]any{"v": e}})
			if err != nil || user.UserID != id || user.UserEmail != e || user.UserRole != e || user.Teams[0] != e {
				t.Fatalf("user %q = %+v, %v", e, user, err)
			}
			k, err := s.CreateKey(ctx, Key{Token: id, KeyAlias: id, KeyName: e, TeamID: id, UserID: id, Models: []string{e},
				Aliases: map[string]string{e: e}, ModelMaxBudget: map[string]float64{e: 1}, Metadata: map[string]any{e: []any{e}}})
			if err != nil || k.Token != id || k.KeyAlias != id || k.KeyName != e || k.Aliases[e] != e || k.ModelMaxBudget[e] != 1 {
				t.Fatalf("key %q = %+v, %v", e, k, err)
			}
			if k, err := s.UpdateKey(ctx, id, KeyUpdate{KeyAlias: Some(e + "!"), Metadata: Some(map[string]any{"q": e})}); err != nil || k.KeyAlias != e+"!" || k.Metadata["q"] != e {
				t.Fatalf("update key %q = %+v, %v", e, k, err)
			}
			c, err := s.CreateCustomer(ctx, Customer{UserID: id, Alias: e, Metadata: map[string]any{"v": e}})
			if err != nil || c.UserID != id || c.Alias != e {
				t.Fatalf("customer %q = %+v, %v", e, c, err)
			}
			if _, err := s.CreateBudget(ctx, Budget{BudgetID: id, ModelMaxBudget: map[string]float64{e: 2}}); err != nil {
				t.Fatalf("budget %q: %v", e, err)
			}
			l := SpendLog{RequestID: id, APIKey: id, KeyAlias: e, TeamID: id, UserID: id, EndUser: id, ModelGroup: e, Model: e,
				DeploymentID: e, Provider: e, CallType: e, Status: e, Spend: 1, StartTime: t0, Metadata: map[string]any{e: e}, RequestTags: []string{e}}
			if n, err := s.InsertSpendLogs(ctx, []SpendLog{l}); err != nil || n != 1 {
				t.Fatalf("spend %q = %d, %v", e, n, err)
			}
			logs, err := s.SpendLogs(ctx, SpendFilter{APIKey: id, UserID: id, TeamID: id, Model: e})
			if err != nil || len(logs) != 1 || logs[0].KeyAlias != e || logs[0].RequestTags[0] != e || logs[0].Metadata[e] != e || logs[0].Status != e {
				t.Fatalf("spend logs %q = %+v, %v", e, logs, err)
			}
			if g, err := s.SpendByModel(ctx, SpendFilter{Model: e}); err != nil || len(g) != 1 || g[0].Name != e {
				t.Fatalf("spend by model %q = %+v, %v", e, g, err)
			}
			if k, _ := s.GetKeyByToken(ctx, id); k.Spend != 1 {
				t.Fatalf("key %q spend = %v", e, k.Spend)
			}
		}
		// Every table is intact and holds exactly what was written.
		for table, want := range map[string]int{"keys": len(evil), "teams": len(evil), "users": len(evil), "customers": len(evil), "budgets": len(evil), "spend_logs": len(evil)} {
			n, err := s.count(ctx, "SELECT COUNT(*) FROM "+table)
			if table == "spend_logs" {
				n, err = spendCount(ctx, s)
			}
			if err != nil || n != want {
				t.Errorf("%s: %d rows, %v; want %d", table, n, err, want)
			}
		}
		if n, err := s.DeleteKeys(ctx, []string{evil[0] + "0"}); err != nil || n != 1 {
			t.Fatalf("DeleteKeys with metacharacters = %d, %v", n, err)
		}
	})
}

func TestSpendAggregates(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		day1 := time.Date(2025, 5, 1, 23, 59, 59, 0, time.UTC)
		day2 := time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC)
		mk := func(id, key, team, user, model string, spend float64, at time.Time) SpendLog {
			return SpendLog{RequestID: id, APIKey: key, TeamID: team, UserID: user, ModelGroup: model, Model: model + "-v1",
				PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30, Spend: spend, StartTime: at}
		}
		rows := []SpendLog{
			mk("a", "k1", "t1", "u1", "gpt", 1.0, day1),
			mk("b", "k1", "t1", "u1", "claude", 2.0, day2),
			mk("c", "k2", "t2", "u2", "gpt", 4.0, day2.Add(time.Hour)),
			mk("d", "k3", "", "u2", "gpt", 8.0, day2.Add(2*time.Hour)),
			mk("e", "k2", "t2", "u1", "claude", 0.5, day2.Add(25*time.Hour)),
		}
		if n, err := s.InsertSpendLogs(ctx, rows); err != nil || n != 5 {
			t.Fatalf("insert = %d, %v", n, err)
		}
		total, err := s.GlobalSpend(ctx, SpendFilter{})
		if err != nil || !near(total, 15.5) {
			t.Fatalf("GlobalSpend = %v, %v", total, err)
		}
		if v, _ := s.GlobalSpend(ctx, SpendFilter{Start: day2, End: day2.Add(24 * time.Hour)}); !near(v, 14) {
			t.Fatalf("GlobalSpend(day2) = %v, want 14", v)
		}
		if v, err := s.GlobalSpend(ctx, SpendFilter{APIKey: "nobody"}); err != nil || v != 0 {
			t.Fatalf("GlobalSpend(empty) = %v, %v", v, err)
		}
		byKey, err := s.SpendByKey(ctx, SpendFilter{})
		wantKeys := []SpendGroup{{"k3", 8, 1, 10, 20, 30}, {"k2", 4.5, 2, 20, 40, 60}, {"k1", 3, 2, 20, 40, 60}}
		if err != nil || !reflect.DeepEqual(byKey, wantKeys) {
			t.Fatalf("SpendByKey = %+v, %v", byKey, err)
		}
		byTeam, err := s.SpendByTeam(ctx, SpendFilter{Limit: 2})
		if err != nil || !reflect.DeepEqual(byTeam, []SpendGroup{{"", 8, 1, 10, 20, 30}, {"t2", 4.5, 2, 20, 40, 60}}) {
			t.Fatalf("SpendByTeam = %+v, %v", byTeam, err)
		}
		byModel, err := s.SpendByModel(ctx, SpendFilter{UserID: "u1"})
		if err != nil || !reflect.DeepEqual(byModel, []SpendGroup{{"claude", 2.5, 2, 20, 40, 60}, {"gpt", 1, 1, 10, 20, 30}}) {
			t.Fatalf("SpendByModel = %+v, %v", byModel, err)
		}
		rep, err := s.SpendReport(ctx, SpendFilter{}, ByTeam)
		wantRep := []ReportRow{
			{"2025-05-01", SpendGroup{"t1", 1, 1, 10, 20, 30}},
			{"2025-05-02", SpendGroup{"", 8, 1, 10, 20, 30}},
			{"2025-05-02", SpendGroup{"t1", 2, 1, 10, 20, 30}},
			{"2025-05-02", SpendGroup{"t2", 4, 1, 10, 20, 30}},
			{"2025-05-03", SpendGroup{"t2", 0.5, 1, 10, 20, 30}},
		}
		if err != nil || !reflect.DeepEqual(rep, wantRep) {
			t.Fatalf("SpendReport(team) =\n%+v, %v", rep, err)
		}
		rep, err = s.SpendReport(ctx, SpendFilter{TeamID: "t2"}, ByKey)
		if err != nil || !reflect.DeepEqual(rep, []ReportRow{{"2025-05-02", SpendGroup{"k2", 4, 1, 10, 20, 30}}, {"2025-05-03", SpendGroup{"k2", 0.5, 1, 10, 20, 30}}}) {
			t.Fatalf("SpendReport(key) = %+v, %v", rep, err)
		}
		if _, err := s.SpendReport(ctx, SpendFilter{}, "model"); err == nil {
			t.Fatal("unknown grouping accepted")
		}
		// Filters on the log listing.
		ids := func(f SpendFilter) string {
			logs, err := s.SpendLogs(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, l := range logs {
				out = append(out, l.RequestID)
			}
			return strings.Join(out, ",")
		}
		for _, c := range []struct {
			f    SpendFilter
			want string
		}{
			{SpendFilter{}, "e,d,c,b,a"},
			{SpendFilter{Limit: 2}, "e,d"},
			{SpendFilter{Start: day2}, "e,d,c,b"},
			{SpendFilter{End: day2}, "a"},
			{SpendFilter{APIKey: "k2"}, "e,c"},
			{SpendFilter{UserID: "u2"}, "d,c"},
			{SpendFilter{TeamID: "t1"}, "b,a"},
			{SpendFilter{Model: "claude"}, "e,b"},
			{SpendFilter{Model: "gpt-v1"}, "d,c,a"},
			{SpendFilter{Model: "gpt", UserID: "u2", Start: day2.Add(90 * time.Minute)}, "d"},
		} {
			if got := ids(c.f); got != c.want {
				t.Errorf("SpendLogs(%+v) = %s, want %s", c.f, got, c.want)
			}
		}
	})
}

func TestResetBudgets(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		fixedClock(s, t0)
		mustT := func(_ any, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		mustT(s.CreateTeam(ctx, Team{TeamID: "daily", BudgetDuration: "daily", Spend: 3}))
		mustT(s.CreateTeam(ctx, Team{TeamID: "none", Spend: 3}))
		mustT(s.CreateKey(ctx, Key{Token: "k30m", BudgetDuration: "30m", Spend: 1}))
		mustT(s.CreateUser(ctx, User{UserID: "weekly", BudgetDuration: "weekly", Spend: 2}))
		mustT(s.CreateBudget(ctx, Budget{BudgetID: "b-month", BudgetDuration: "monthly"}))
		mustT(s.CreateCustomer(ctx, Customer{UserID: "c-linked", BudgetID: "b-month", Spend: 4}))
		mustT(s.CreateCustomer(ctx, Customer{UserID: "c-own", BudgetDuration: "1h", Spend: 5}))

		// Nothing is due yet.
		if r, err := s.ResetBudgets(ctx, t0.Add(time.Minute)); err != nil || r != (ResetResult{}) {
			t.Fatalf("early reset = %+v, %v", r, err)
		}
		// 09:26 + 30m and + 1h are due at 10:30.
		at := time.Date(2025, 3, 14, 10, 30, 0, 0, time.UTC)
		r, err := s.ResetBudgets(ctx, at)
		if err != nil || r != (ResetResult{Keys: 1, Customers: 1}) {
			t.Fatalf("reset at %v = %+v, %v", at, r, err)
		}
		// Periods keep their boundaries: the next reset counts from the one that came due, not from now.
		k, _ := s.GetKeyByToken(ctx, "k30m")
		if k.Spend != 0 || !k.BudgetResetAt.Equal(t0.Add(90*time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("key after reset: spend %v, next %v", k.Spend, k.BudgetResetAt)
		}
		if c, _ := s.GetCustomer(ctx, "c-own"); c.Spend != 0 || !c.BudgetResetAt.Equal(t0.Add(2*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("customer after reset: %+v", c)
		}
		// Far later: everything with a schedule is due once; missed periods do not pile up.
		at = time.Date(2025, 4, 2, 12, 0, 0, 0, time.UTC) // a Wednesday
		r, err = s.ResetBudgets(ctx, at)
		if err != nil || r != (ResetResult{Keys: 1, Teams: 1, Users: 1, Customers: 1, Budgets: 1}) {
			t.Fatalf("reset at %v = %+v, %v", at, r, err)
		}
		tm, _ := s.GetTeam(ctx, "daily")
		if tm.Spend != 0 || !tm.BudgetResetAt.Equal(time.Date(2025, 4, 3, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("daily team: %+v", tm)
		}
		if tm, _ := s.GetTeam(ctx, "none"); tm.Spend != 3 || tm.BudgetResetAt != nil {
			t.Fatalf("team without schedule was touched: %+v", tm)
		}
		u, _ := s.GetUser(ctx, "weekly")
		if u.Spend != 0 || !u.BudgetResetAt.Equal(time.Date(2025, 4, 7, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("weekly user: %+v", u)
		}
		b, _ := s.GetBudget(ctx, "b-month")
		if !b.BudgetResetAt.Equal(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("monthly budget next reset %v", b.BudgetResetAt)
		}
		if c, _ := s.GetCustomer(ctx, "c-linked"); c.Spend != 0 {
			t.Fatalf("customer of reset budget kept spend %v", c.Spend)
		}
		// Running again at the same instant resets nothing.
		if r, err := s.ResetBudgets(ctx, at); err != nil || r != (ResetResult{}) {
			t.Fatalf("repeated reset = %+v, %v", r, err)
		}
	})
}

func TestConcurrentSpend(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seedSpendOwners(t, s)
		const workers, batches, per = 16, 8, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*batches*2)
		added := make(chan int, workers*batches)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					// Workers w and w^1 write the same request ids: each id must count once.
					var batch []SpendLog
					for i := range per {
						batch = append(batch, spendRow(fmt.Sprintf("w%d-b%d-i%d", w/2, b, i), 0.01, t0.Add(time.Duration(b*per+i)*time.Second)))
					}
					n, err := s.InsertSpendLogs(ctx, batch)
					if err != nil {
						errs <- err
						continue
					}
					added <- n
					// Readers run alongside the writers.
					if _, err := s.GlobalSpend(ctx, SpendFilter{}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		close(added)
		for err := range errs {
			t.Errorf("concurrent insert: %v", err)
		}
		sum := 0
		for n := range added {
			sum += n
		}
		unique := workers / 2 * batches * per
		if sum != unique {
			t.Fatalf("new rows reported = %d, want %d", sum, unique)
		}
		if n, err := spendCount(ctx, s); err != nil || n != unique {
			t.Fatalf("spend_logs rows = %d, %v; want %d", n, err, unique)
		}
		checkOwnerSpend(t, s, float64(unique)*0.01)
	})
}

// Two stores on one SQLite file (as two processes would be) write
// concurrently without "database is locked" errors, thanks to WAL,
// busy_timeout and immediate transactions.
func TestSQLiteTwoHandles(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + t.TempDir() + "/shared.db"
	a, b := openT(t, url), openT(t, url)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow(fmt.Sprint("r", i), 1, t0)}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("insert: %v", err)
	}
	if n, err := spendCount(ctx, a); err != nil || n != 40 {
		t.Fatalf("rows = %d, %v", n, err)
	}
}

func TestKeyAllowedCacheControls(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		k, err := s.CreateKey(ctx, Key{Token: "tok-acc", AllowedCacheControls: []string{"no-cache"}})
		if err != nil || len(k.AllowedCacheControls) != 1 || k.AllowedCacheControls[0] != "no-cache" {
			t.Fatalf("created: %+v, %v", k.AllowedCacheControls, err)
		}
		k, err = s.UpdateKey(ctx, "tok-acc", KeyUpdate{AllowedCacheControls: Some([]string{"ttl", "s-maxage"})})
		if err != nil || len(k.AllowedCacheControls) != 2 {
			t.Fatalf("updated: %+v, %v", k.AllowedCacheControls, err)
		}
		k, err = s.CreateKey(ctx, Key{Token: "tok-none"})
		if err != nil || len(k.AllowedCacheControls) != 0 {
			t.Fatalf("a key without: %+v, %v", k.AllowedCacheControls, err)
		}
	})
}

// The spend logs' team and user indexes leave out rows without a team or user (most rows, where keys are not
// grouped, so recording them writes fewer indexes); the filters by team and user must still be served by them.
func TestSpendFiltersUsePartialIndexes(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		if s.packed() {
			t.Skip("SQLite keeps spend logs in blocks, not in spend_logs")
		}
		ctx := context.Background()
		for _, tc := range []struct {
			f     SpendFilter
			index string
		}{
			{SpendFilter{TeamID: "t1"}, "spend_logs_team_id_start_time"},
			{SpendFilter{UserID: "u1"}, "spend_logs_user_id_start_time"},
		} {
			w := s.spendWhere(tc.f)
			q := "SELECT request_id FROM spend_logs" + w.String()
			var plan strings.Builder
			err := s.tx(ctx, func(tx *sql.Tx) error {
				explain := "EXPLAIN QUERY PLAN "
				if s.d.name() == "postgres" {
					// On a table this small a sequential scan is cheaper; the question is whether the index
					// can serve the filter at all.
					if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
					explain = "EXPLAIN "
				}
				rows, err := tx.QueryContext(ctx, s.d.rebind(explain+q), w.vals...)
				if err != nil {
					return err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					for i := range vals {
						vals[i] = new(any)
					}
					if err := rows.Scan(vals...); err != nil {
						return err
					}
					for _, v := range vals {
						fmt.Fprintf(&plan, "%v ", *(v.(*any)))
					}
					plan.WriteByte('\n')
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan.String(), tc.index) {
				t.Errorf("%s: plan does not use %s:\n%s", q, tc.index, plan.String())
			}
		}
	})
}
