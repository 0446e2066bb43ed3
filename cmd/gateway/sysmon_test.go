package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSysmonEnv(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		environ []string
		again   bool
		godebug string // GODEBUG of the new environment
		saved   string
	}{
		{name: "no GODEBUG", environ: []string{"PATH=/bin"}, again: true,
			godebug: "GODEBUG=" + schedtraceSetting, saved: godebugSavedEnv + "="},
		{name: "empty GODEBUG", environ: []string{"GODEBUG=", "PATH=/bin"}, again: true,
			godebug: "GODEBUG=" + schedtraceSetting, saved: godebugSavedEnv + "=set:"},
		{name: "other settings kept", environ: []string{"GODEBUG=http2client=0,madvdontneed=1"}, again: true,
			godebug: "GODEBUG=" + schedtraceSetting + ",http2client=0,madvdontneed=1",
			saved:   godebugSavedEnv + "=set:http2client=0,madvdontneed=1"},
		{name: "operator's schedtrace=0", environ: []string{"GODEBUG=http2client=0,schedtrace=0"}},
		{name: "operator's schedtrace", environ: []string{"GODEBUG= schedtrace=1000"}},
		{name: "started again already", environ: []string{"GODEBUG=" + schedtraceSetting, godebugSavedEnv + "="}},
	} {
		env, again := sysmonEnv(c.environ)
		if again != c.again {
			t.Errorf("%s: again = %v, want %v", c.name, again, c.again)
			continue
		}
		if !again {
			continue
		}
		godebug := godebugEntries(env)
		if len(godebug) != 1 || godebug[0] != c.godebug {
			t.Errorf("%s: GODEBUG entries %q, want [%q]", c.name, godebug, c.godebug)
		}
		if !slices.Contains(env, c.saved) {
			t.Errorf("%s: %q missing from %q", c.name, c.saved, env)
		}
		for _, kv := range c.environ {
			if !strings.HasPrefix(kv, "GODEBUG=") && !slices.Contains(env, kv) {
				t.Errorf("%s: %q lost", c.name, kv)
			}
		}
	}
}

// TestRestoreGodebug: the gateway started again puts GODEBUG back as the operator had it (or unset), and drops
// the saved copy, so that the processes it starts inherit the operator's environment.
func TestRestoreGodebug(t *testing.T) {
	t.Setenv("GODEBUG", schedtraceSetting+",http2client=0")
	t.Setenv(godebugSavedEnv, "set:http2client=0")
	restoreGodebug()
	if v := os.Getenv("GODEBUG"); v != "http2client=0" {
		t.Errorf("GODEBUG = %q, want the operator's http2client=0", v)
	}
	if _, ok := os.LookupEnv(godebugSavedEnv); ok {
		t.Errorf("%s still set", godebugSavedEnv)
	}

	t.Setenv("GODEBUG", schedtraceSetting)
	t.Setenv(godebugSavedEnv, "")
	restoreGodebug()
	if v, ok := os.LookupEnv("GODEBUG"); ok {
		t.Errorf("GODEBUG = %q, want it unset as before", v)
	}
}

// TestGatewayStartsWithSysmonAwake runs the binary: the process serving is the one started again with
// schedtrace set (its starting environment, in /proc, says so), unless the operator's GODEBUG sets schedtrace.
func TestGatewayStartsWithSysmonAwake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the gateway keeps sysmon awake on Linux only")
	}
	t.Parallel()
	for _, c := range []struct {
		env  []string
		want string
	}{
		{env: []string{"GODEBUG=http2client=0"}, want: "GODEBUG=" + schedtraceSetting + ",http2client=0"},
		{env: []string{"GODEBUG=schedtrace=0"}, want: "GODEBUG=schedtrace=0"},
	} {
		p := startProcess(t, c.env, "--config", writeConfig(t, demoConfig))
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		got := godebugEntries(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"))
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("with %q the serving process started with %q, want [%q]", c.env, got, c.want)
		}
	}
}

// godebugEntries returns the GODEBUG entries of an environment.
func godebugEntries(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "GODEBUG=") {
			out = append(out, kv)
		}
	}
	return out
}
