// Command harness is `make bench-load`: on one machine, in one go, it builds the gateway and the benchmark
// servers, starts a fake OpenAI upstream and, in front of it, a minimal Go reverse proxy, nginx and the gateway
// (bare, and with keys, budgets and the spend ledger on: SQLite, or Redis and PostgreSQL), and runs the same
// load against each target (the fake directly, and through each of them): latency at one connection,
// throughput at 32 and 128 connections, and streaming time to first token. It
// accounts the CPU time and memory of every server process, repeats the matrix for several rounds with the
// order of targets rotated, and writes a markdown report (bench/results/latest.md, with the raw results in
// latest.json next to it).
//
//	go run ./bench/cmd/harness                        # the default run, about 4.5 minutes
//	go run ./bench/cmd/harness --rounds 5 --duration 10s
//	go run ./bench/cmd/harness --scenarios tail256     # 256 connections in front of a 20 ms upstream
//	go run ./bench/cmd/harness --targets direct,nginx,gateway
//
// Targets that cannot run on the machine (no nginx, no Redis or PostgreSQL) are left out with a message.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchyard/gateway/bench/internal/loadgen"
	"github.com/switchyard/gateway/bench/internal/workload"
)

type flags struct {
	gatewayBin      string
	rounds          int
	latencyRequests int
	streamRequests  int
	soak            time.Duration
	duration        time.Duration
	warmup          time.Duration
	warmupAll       time.Duration
	scenarios       string
	targets         string
	out             string
	client          string
	fakeServer      string
	keep            bool
	nginx           string
	nginxWorkers    int
	redis           string
	postgres        string
	profile         string
}

func main() {
	os.Exit(run())
}

func run() int {
	f := &flags{}
	flag.StringVar(&f.gatewayBin, "gateway-bin", "", "gateway binary to measure (default: build ./cmd/gateway now)")
	flag.IntVar(&f.rounds, "rounds", 3, "times the whole matrix is run; the report gives the median of each figure")
	flag.IntVar(&f.latencyRequests, "latency-requests", 3000, "measured requests of the latency scenario")
	flag.IntVar(&f.streamRequests, "stream-requests", 1000, "measured streams of the streaming scenario")
	flag.DurationVar(&f.duration, "duration", 5*time.Second, "measured window of each throughput run")
	flag.DurationVar(&f.warmup, "warmup", time.Second, "warm-up before each throughput run")
	flag.DurationVar(&f.warmupAll, "warmup-all", 2*time.Second, "warm-up of each target once started")
	flag.StringVar(&f.scenarios, "scenarios", "latency,tput32,tput128,stream",
		"scenarios to run, comma-separated (latency, tput32, tput128, stream, tail256, paced, streams1000, soak)")
	flag.DurationVar(&f.soak, "soak", 10*time.Minute, "length of the soak scenario, per target")
	flag.StringVar(&f.targets, "targets", defaultTargets, "targets to measure, comma-separated")
	flag.StringVar(&f.out, "out", "", "report file (default bench/results/latest.md; raw results in .json next to it)")
	flag.StringVar(&f.client, "client", "raw", "load generator client: raw or nethttp")
	flag.StringVar(&f.fakeServer, "fake-server", "fasthttp", "fake upstream server: fasthttp or nethttp")
	flag.BoolVar(&f.keep, "keep", false, "keep the temporary directory (binaries, configs, server logs)")
	flag.StringVar(&f.nginx, "nginx", "", "nginx binary (default: on PATH, /usr/sbin/nginx or bin/nginx, else "+
		"fetched with apt-get download into bin/nginx; \"off\" leaves nginx out)")
	flag.IntVar(&f.nginxWorkers, "nginx-workers", 2, "nginx worker processes (2: both cores, as the gateway has)")
	flag.StringVar(&f.redis, "redis", "127.0.0.1:6379", "Redis of the gateway-gov-redis-pg target")
	flag.StringVar(&f.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL server of the gateway-gov-redis-pg target (a database is created on it, and dropped)")
	flag.StringVar(&f.profile, "profile", "", "profile every gateway target under each scenario into this directory "+
		"(CPU and allocations; with --rounds 0, profiling only)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{flags: f}
	err := h.run(ctx)
	h.stopAll() // every child, whatever happened
	h.cleanup() // then what they used: databases, Redis keys
	if h.dir != "" && !f.keep {
		_ = os.RemoveAll(h.dir)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "harness: interrupted")
			return 130
		}
		fmt.Fprintln(os.Stderr, "harness:", err)
		return 1
	}
	return 0
}

type harness struct {
	flags      *flags
	dir        string // temporary: binaries, configs, logs
	root       string // the module's root
	gatewayBin string
	nginxBin   string
	upstream   string // the upstream group being run

	mu       sync.Mutex
	procs    []*process
	cleanups []func()

	// missing holds the targets left out (they cannot run here), with the reason.
	missing []missingTarget

	machine machineInfo
	runs    []*runRecord
	memory  map[string]*memRecord // by target name and upstream group
}

func (h *harness) bin(name string) string { return filepath.Join(h.dir, "bin", name) }

// start starts a child and remembers it, so that it is stopped however the run ends.
func (h *harness) start(name, bin string, args ...string) (*process, error) {
	p, err := start(h.dir, name+"-"+h.upstream, bin, args...)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p, nil
}

// missingTarget is a target left out of the run.
type missingTarget struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// logf prints a progress line.
func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// onCleanup registers fn to run when the harness ends, after every child has stopped.
func (h *harness) onCleanup(fn func()) {
	h.mu.Lock()
	h.cleanups = append(h.cleanups, fn)
	h.mu.Unlock()
}

// cleanup runs the registered functions, last registered first.
func (h *harness) cleanup() {
	h.mu.Lock()
	fns := h.cleanups
	h.cleanups = nil
	h.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// prepareTargets runs the targets' checks and returns those that can run; the others are reported missing.
func (h *harness) prepareTargets(ctx context.Context, tgts []targetSpec) []targetSpec {
	var ok []targetSpec
	for _, t := range tgts {
		if t.prepare != nil {
			if err := t.prepare(ctx, h); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				h.logf("%s: the %s row is missing from this run: %v", t.name, t.name, err)
				h.missing = append(h.missing, missingTarget{Name: t.name, Reason: err.Error()})
				continue
			}
		}
		ok = append(ok, t)
	}
	return ok
}

func (h *harness) stopAll() {
	h.mu.Lock()
	procs := h.procs
	h.procs = nil
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

func (h *harness) run(ctx context.Context) error {
	f := h.flags
	sel, err := h.selectScenarios()
	if err != nil {
		return err
	}
	tgts, err := h.selectTargets()
	if err != nil {
		return err
	}
	if f.rounds < 1 && (f.rounds < 0 || f.profile == "") {
		return errors.New("--rounds must be at least 1 (0 with --profile: profiling only)")
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("cannot find the module root (run from inside the repository): %v", err)
	}
	h.root = filepath.Dir(strings.TrimSpace(string(out)))
	if f.out == "" {
		f.out = filepath.Join(h.root, "bench", "results", "latest.md")
	}
	if h.dir, err = os.MkdirTemp("", "switchyard-bench-"); err != nil {
		return err
	}
	if err := h.build(ctx); err != nil {
		return err
	}
	if tgts = h.prepareTargets(ctx, tgts); ctx.Err() != nil {
		return ctx.Err()
	}
	if len(tgts) == 0 {
		return errors.New("no target can run here")
	}
	h.machine = readMachine()
	h.memory = map[string]*memRecord{}
	began := time.Now()

	for _, up := range upstreams {
		var group []scenario
		for _, s := range sel {
			if s.upstream == up.name {
				group = append(group, s)
			}
		}
		if len(group) == 0 {
			continue
		}
		if err := h.runGroup(ctx, up, group, tgts); err != nil {
			return err
		}
		h.stopAll()
	}
	h.machine.LoadAfter = loadAverage()
	h.machine.StealPercent = stealSince(h.machine.cpuStat)
	h.machine.Minutes = time.Since(began).Minutes()

	if f.rounds == 0 {
		h.logf("profiles in %s (no rounds measured: no report)", f.profile)
		return nil
	}
	report := h.report(sel, tgts)
	fmt.Println()
	fmt.Print(report)
	if err := os.MkdirAll(filepath.Dir(f.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(f.out, []byte(report), 0o644); err != nil {
		return err
	}
	jsonPath := strings.TrimSuffix(f.out, filepath.Ext(f.out)) + ".json"
	if err := h.writeJSON(jsonPath); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nwrote %s and %s\n", f.out, jsonPath)
	return nil
}

func (h *harness) selectScenarios() ([]scenario, error) {
	all := scenarios(h.flags)
	var sel []scenario
	for _, name := range strings.Split(h.flags.scenarios, ",") {
		i := slices.IndexFunc(all, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("--scenarios: no scenario %q", name)
		}
		sel = append(sel, all[i])
	}
	return sel, nil
}

func (h *harness) selectTargets() ([]targetSpec, error) {
	var sel []targetSpec
	for _, name := range strings.Split(h.flags.targets, ",") {
		i := slices.IndexFunc(targets, func(t targetSpec) bool { return t.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("--targets: no target %q", name)
		}
		sel = append(sel, targets[i])
	}
	return sel, nil
}

// build compiles the gateway as `make build` does (trimmed, stripped), so that what is measured is the current
// tree, and the two benchmark servers.
func (h *harness) build(ctx context.Context) error {
	pkgs := []string{"./bench/cmd/fakeupstream", "./bench/cmd/goproxy"}
	h.gatewayBin = h.flags.gatewayBin
	if h.gatewayBin == "" {
		pkgs = append(pkgs, "./cmd/gateway")
		h.gatewayBin = h.bin("gateway")
	} else if abs, err := filepath.Abs(h.gatewayBin); err == nil {
		h.gatewayBin = abs
	}
	fmt.Fprintf(os.Stderr, "building %s\n", strings.Join(pkgs, " "))
	args := append([]string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=bench", "-o",
		h.bin("") + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = h.root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// group is the running servers of one upstream configuration.
type group struct {
	fake      endpoint
	endpoints []endpoint // by target, in the order of the selected targets
}

func (h *harness) runGroup(ctx context.Context, up upstreamSpec, scs []scenario, tgts []targetSpec) error {
	h.upstream = up.name
	fmt.Fprintf(os.Stderr, "starting the servers (%s upstream: latency %s, %s between events)\n", up.name,
		up.latency, up.chunkDelay)
	fake, err := startFake(ctx, h, up)
	if err != nil {
		return err
	}
	g := &group{fake: fake}
	for _, t := range tgts {
		ep, err := t.start(ctx, h, fake)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		g.endpoints = append(g.endpoints, ep)
	}
	for i, t := range tgts {
		if err := check(ctx, t.name, g.endpoints[i]); err != nil {
			return err
		}
		h.memRecord(t.name).idle = rssOf(g.endpoints[i].proc)
	}

	// One warm-up per target before anything is measured: connection pools, heaps and page cache reach the
	// state they will have in the runs.
	for i, t := range tgts {
		fmt.Fprintf(os.Stderr, "warming up %s\n", t.name)
		for _, stream := range []bool{false, true} {
			o := h.loadOptions(g.endpoints[i], stream)
			o.Conns, o.Duration = 32, h.flags.warmupAll/2
			if _, err := loadgen.Run(ctx, o); err != nil {
				return err
			}
		}
	}

	for round := 0; round < h.flags.rounds; round++ {
		for _, sc := range scs {
			// Rotate the order of targets every round, so that none is always measured first or last (a
			// machine that heats up, another tenant's job).
			for k := range tgts {
				i := (k + round) % len(tgts)
				rec, err := h.measure(ctx, round, sc, tgts[i].name, g, g.endpoints[i])
				if err != nil {
					return fmt.Errorf("%s / %s: %w", sc.name, tgts[i].name, err)
				}
				h.runs = append(h.runs, rec)
				fmt.Fprintf(os.Stderr, "round %d %-8s %-8s %s\n", round+1, sc.name, tgts[i].name, rec.Result)
			}
		}
	}

	if h.flags.profile != "" {
		if err := h.profileGroup(ctx, scs, tgts, g); err != nil {
			return err
		}
	}

	// Memory once the load is gone: what the process keeps (Go returns freed memory to the OS over minutes,
	// so this is an upper bound of the steady idle footprint).
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	for i, t := range tgts {
		m := h.memRecord(t.name)
		m.after = rssOf(g.endpoints[i].proc)
		if p := g.endpoints[i].proc; p != nil {
			for _, pid := range p.pids() {
				_, hwm, _ := memory(pid)
				m.hwm += hwm
			}
		}
	}
	return nil
}

func (h *harness) loadOptions(ep endpoint, stream bool) loadgen.Options {
	return loadgen.Options{
		URL:    ep.url + chatPath,
		Header: map[string]string{"Authorization": "Bearer " + ep.key},
		Body:   workload.ChatBody(model, stream),
		Stream: stream,
		Client: h.flags.client,
	}
}

// check sends one plain and one streamed request and fails unless the target answers them properly: a
// benchmark of a target that answers errors fast would be worthless.
func check(ctx context.Context, name string, ep endpoint) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ep.url+chatPath,
		strings.NewReader(string(workload.ChatBody(model, false))))
	req.Header.Set("Authorization", "Bearer "+ep.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"content":"`) {
		return fmt.Errorf("%s answered %d: %.300s", name, resp.StatusCode, body)
	}
	r, err := loadgen.Run(ctx, loadgen.Options{URL: ep.url + chatPath, Body: workload.ChatBody(model, true),
		Header: map[string]string{"Authorization": "Bearer " + ep.key}, Stream: true, Requests: 1})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	minEvents := ep.minEvents
	if minEvents == 0 {
		minEvents = workload.StreamChunks
	}
	if r.Errors > 0 || r.EventsPerStream < float64(minEvents) {
		return fmt.Errorf("%s: streamed answer: %d events, error %q", name, int(r.EventsPerStream), r.FirstError)
	}
	return checkAnswers(ctx, name, ep)
}

// runRecord is one run: a scenario against a target in one round.
type runRecord struct {
	Round    int             `json:"round"`
	Scenario string          `json:"scenario"`
	Target   string          `json:"target"`
	Result   *loadgen.Result `json:"result"`
	// CPUSeconds is the CPU time each server process used during the measured window, by role: "target" (the
	// proxy or gateway; absent for direct) and "fake".
	CPUSeconds map[string]float64 `json:"cpu_seconds"`
	// PeakRSSKiB is the largest resident set of the target process seen during the run (sampled every 100 ms).
	PeakRSSKiB int64 `json:"peak_rss_kib,omitempty"`
	// Soak holds the soak scenario's samples.
	Soak *soakRecord `json:"soak,omitempty"`
}

// memRecord is a target process's memory over a group of runs, in KiB. hwm (the kernel's VmHWM) is kept in the
// JSON only: on this machine's kernel it was seen below a VmRSS sample taken earlier, the high-water mark being
// updated lazily, so the report uses the samples.
type memRecord struct {
	idle, peak, after, hwm int64
}

func (h *harness) memRecord(target string) *memRecord {
	key := target + "/" + h.upstream
	if h.memory[key] == nil {
		h.memory[key] = &memRecord{}
	}
	return h.memory[key]
}

// rssOf is the resident set of a target: for a process tree (nginx), the sum over its processes, which counts
// the pages they share once per process.
func rssOf(p *process) int64 {
	if p == nil {
		return 0
	}
	return rssOfPids(p.pids())
}

func rssOfPids(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		rss, _, _ := memory(pid)
		total += rss
	}
	return total
}

// measure runs one scenario against one target, with the CPU time of the servers read when the measured
// window opens and closes and the target's memory sampled meanwhile.
func (h *harness) measure(ctx context.Context, round int, sc scenario, target string, g *group, ep endpoint) (*runRecord, error) {
	// The processes of each role, listed before the run (nginx's workers), so that the window's readings are
	// quick.
	roles := map[string][]int{"fake": g.fake.proc.pids()}
	var watched []int // whose memory is sampled: the target's processes (direct: the fake)
	if ep.proc != nil {
		watched = ep.proc.pids()
		if ep.proc != g.fake.proc {
			roles["target"] = watched
		}
	}
	before := map[string]time.Duration{}
	rec := &runRecord{Round: round + 1, Scenario: sc.name, Target: target, CPUSeconds: map[string]float64{}}
	var readErr error
	o := h.loadOptions(ep, sc.stream)
	o.Conns, o.Requests, o.WarmupRequests, o.Duration, o.Warmup = sc.conns, sc.requests, sc.warmupRequests,
		sc.duration, sc.warmup
	o.OnWindow = func(open bool) {
		for role, pids := range roles {
			t, err := cpuTimeOf(pids)
			if err != nil {
				readErr = fmt.Errorf("reading the CPU time of the %s: %w", role, err)
			}
			if open {
				before[role] = t
			} else {
				rec.CPUSeconds[role] = (t - before[role]).Seconds()
			}
		}
	}

	stopSampling := make(chan struct{})
	sampled := make(chan int64)
	go func() {
		var peak int64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, rssOfPids(watched))
			case <-stopSampling:
				sampled <- peak
				return
			}
		}
	}()
	var res *loadgen.Result
	var err error
	if sc.name == "soak" {
		// The soak samples the target itself, over minutes (soak.go).
		close(stopSampling)
		<-sampled
		err = h.soak(ctx, rec, sc, ep, watched, o.OnWindow)
		res = rec.Result
	} else {
		res, err = loadgen.Run(ctx, o)
		close(stopSampling)
		rec.PeakRSSKiB = <-sampled
	}
	if ep.proc != nil && ep.proc.exited() {
		return nil, ep.proc.death()
	}
	if err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	rec.Result = res
	if ep.proc != nil {
		m := h.memRecord(target)
		m.peak = max(m.peak, rec.PeakRSSKiB)
	}
	return rec, nil
}

// machineInfo describes where the numbers come from.
type machineInfo struct {
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	Kernel     string  `json:"kernel"`
	Go         string  `json:"go"`
	LoadBefore string  `json:"load_before"`
	LoadAfter  string  `json:"load_after"`
	Date       string  `json:"date"`
	Minutes    float64 `json:"minutes"`
	// StealPercent is the share of CPU time the hypervisor gave to other guests during the run (/proc/stat
	// "steal"): on a shared virtual machine, time the benchmark was not running at all.
	StealPercent float64 `json:"steal_percent"`
	cpuStat      []int64
}

func readMachine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAverage(),
		Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cpuStat: cpuStat()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage returns the 1, 5 and 15-minute load averages: other work on the machine shows there.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuStat returns the machine-wide CPU time counters of /proc/stat (user, nice, system, idle, iowait, irq,
// softirq, steal), in ticks.
func cpuStat() []int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nil
	}
	out := make([]int64, 8)
	for i := range out {
		out[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	return out
}

// stealSince returns the percentage of CPU time stolen by the hypervisor since the counters before.
func stealSince(before []int64) float64 {
	after := cpuStat()
	if len(before) != 8 || len(after) != 8 {
		return math.NaN()
	}
	var total int64
	for i := range after {
		total += after[i] - before[i]
	}
	if total <= 0 {
		return 0
	}
	return 100 * float64(after[7]-before[7]) / float64(total)
}
