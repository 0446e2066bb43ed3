package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Go's runtime has a monitor thread (sysmon) that, whenever every P is idle, parks in a deep sleep that the next
// system call entering the kernel has to end with a futex wake; the wake also resets its polling interval to
// 20 µs. A gateway at low concurrency goes idle between every request (waiting for the client, then for the
// upstream), so each request paid for one or two of those wakes on its critical path, and for sysmon polling
// every 20 µs on a shared core in between: runtime.entersyscallWakeSysmon was 4% of the gateway's CPU with one
// connection and 6.5% with one stream, and in alternated harness runs the gateway's CPU per request at one
// connection fell from 87-88 to 58-65 µs, and its added p50 latency from +134-140 to +91-104 µs, without it.
// Under load nothing changes: a busy P keeps sysmon out of that sleep anyway.
//
// The only switch the runtime has for it is GODEBUG=schedtrace=N (sysmon stays awake whenever a scheduler trace
// is asked for), read once when the process starts. So the gateway starts itself again, at once, with
// schedtrace set to the longest period the runtime accepts (about 24.8 days): sysmon never deep-sleeps, and
// otherwise polls as always (every 20 µs to 10 ms, 10 ms when idle). What that leaves: one line of scheduler
// statistics on standard error at start on a host up for longer than that period and then once per period, and
// the same statistics when the process dies of a fatal error. An operator's own GODEBUG setting of schedtrace
// (schedtrace=0: Go's default) is kept and nothing is done.
const (
	schedtraceSetting = "schedtrace=2147483647" // int32 milliseconds, the runtime's largest
	// godebugSavedEnv carries the operator's GODEBUG (with a "set:" prefix when it was set) across the
	// re-execution, so that the gateway puts it back for whatever it starts (plugin processes).
	godebugSavedEnv = "SWITCHYARD_SAVED_GODEBUG"
)

// keepSysmonAwake re-executes the gateway with schedtrace added to GODEBUG, on Linux, unless GODEBUG already
// sets schedtrace. In the process it started, it puts GODEBUG back as the operator had it. When the
// re-execution cannot be done, the gateway goes on as it is.
func keepSysmonAwake() {
	if runtime.GOOS != "linux" {
		return
	}
	env, again := sysmonEnv(os.Environ())
	if !again {
		restoreGodebug()
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure
}

// sysmonEnv returns the environment to start the gateway again with, and whether to: only when GODEBUG does not
// set schedtrace already and the saved copy is absent (the gateway was not started that way already).
func sysmonEnv(environ []string) ([]string, bool) {
	godebug, set := "", false
	for _, kv := range environ {
		if strings.HasPrefix(kv, godebugSavedEnv+"=") {
			return nil, false
		}
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug, set = v, true
		}
	}
	for item := range strings.SplitSeq(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(item), "schedtrace=") {
			return nil, false
		}
	}
	saved := ""
	if set {
		saved = "set:" + godebug
	}
	out := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			out = append(out, kv)
		}
	}
	value := schedtraceSetting
	if godebug != "" {
		value += "," + godebug
	}
	return append(out, "GODEBUG="+value, godebugSavedEnv+"="+saved), true
}

// restoreGodebug puts GODEBUG back as it was before the re-execution. The runtime keeps the schedtrace it read at
// start: a later change of GODEBUG only updates the settings that can change while running.
func restoreGodebug() {
	saved, ok := os.LookupEnv(godebugSavedEnv)
	if !ok {
		return
	}
	os.Unsetenv(godebugSavedEnv)
	if v, set := strings.CutPrefix(saved, "set:"); set {
		os.Setenv("GODEBUG", v)
	} else {
		os.Unsetenv("GODEBUG")
	}
}
