package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a child the harness started: a fake upstream, a proxy or the gateway.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done chan struct{}
	// tree: the process works through children of its own (nginx's workers), whose CPU time and memory are
	// charged to it too.
	tree bool
}

// start launches a child in its own process group, with its output in dir/name.log. Pdeathsig kills it if the
// harness dies without cleaning up (kill -9, a panic), so no server outlives a run.
func start(dir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = childEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// childEnv is the environment of the children: the harness's, without the variables through which the gateway
// would read settings other than its configuration file (a DATABASE_URL in the shell would otherwise turn the
// SQLite variants into PostgreSQL ones).
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "DATABASE_URL" || name == "LITELLM_MASTER_KEY" || name == "LITELLM_LOG" ||
			strings.HasPrefix(name, "SWITCHYARD_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// pids returns the process and, for a tree, its children at the time of the call.
func (p *process) pids() []int {
	if !p.tree {
		return []int{p.pid()}
	}
	return append([]int{p.pid()}, childrenOf(p.pid())...)
}

// childrenOf returns the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentOf(child); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the command name: field 3 (state) is index 0.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name (field 2) may contain spaces; the fields after it start past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc/<pid>/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, errors.New("malformed /proc/<pid>/stat")
	}
	return f, nil
}

func parentOf(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1]) // field 4
}

// cpuTimeOf is cpuTime summed over processes.
func cpuTimeOf(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		total += t
	}
	return total, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the child to stop (SIGTERM to its group), then kills it after a grace period.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// death explains a child that exited while it should be serving: its exit status and the end of its log.
func (p *process) death() error {
	return fmt.Errorf("%s exited (%v) while measured; the end of its log:\n%s", p.name, p.cmd.ProcessState, p.tail())
}

// tail returns the last lines of the child's log, to explain a failure.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls url (or, when it is empty, a TCP connect to addr) until the child answers.
func (p *process) waitReady(ctx context.Context, addr, url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited during start:\n%s", p.name, p.tail())
		}
		if url != "" {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return nil
				}
			}
		} else if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s is not answering on %s after 20 s:\n%s", p.name, addr, p.tail())
}

// freeAddr returns a loopback address with a port that was free a moment ago. Another program could take it
// before the child binds it; the child then fails to start and the harness says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// userHZ is the unit of utime and stime in /proc/<pid>/stat. It is 100 on every Linux build the harness is
// meant for (x86-64 and arm64); reading it needs sysconf(_SC_CLK_TCK), i.e. cgo, which is not worth it here.
const userHZ = 100

// cpuTime returns the user+system CPU time of a process, its exited threads included, with 10 ms resolution.
func cpuTime(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/<pid>/stat")
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// memory returns a process's resident set (VmRSS) and its peak (VmHWM), in KiB.
func memory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q", name, value)
		}
		if name == "VmRSS" {
			rss = kb
		} else {
			hwm = kb
		}
	}
	return rss, hwm, s.Err()
}
