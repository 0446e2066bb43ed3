package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/gateway/bench/internal/loadgen"
)

// Profiling under load (`make profile`, or --profile DIR): every gateway target is started with --pprof on a
// loopback port; after the measured rounds (none with --rounds 0), each selected scenario is run once more
// against each gateway for --duration while a CPU profile of that window is taken, and the allocation
// profile (sampled over the process's life) is saved once the group's scenarios are done. Files:
// DIR/<target>-<scenario>.cpu.pprof, DIR/<target>-<upstream>.allocs.pprof, with a text summary of the hottest
// functions next to each (.txt, `go tool pprof -top`). Profiling costs the gateway a few percent of CPU: the
// figures of a profiled run are not the measured ones.

// profileGroup profiles every gateway target of the group under each scenario.
func (h *harness) profileGroup(ctx context.Context, scs []scenario, tgts []targetSpec, g *group) error {
	dir := h.flags.profile
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, t := range tgts {
		ep := g.endpoints[i]
		if ep.pprof == "" {
			continue
		}
		for _, sc := range scs {
			if err := h.profileRun(ctx, dir, t.name, sc, ep); err != nil {
				return fmt.Errorf("profiling %s / %s: %w", t.name, sc.name, err)
			}
		}
		path := filepath.Join(dir, t.name+"-"+h.upstream+".allocs.pprof")
		if err := fetch(ctx, ep.pprof+"/debug/pprof/allocs", path); err != nil {
			return fmt.Errorf("allocation profile of %s: %w", t.name, err)
		}
		h.summarize(ctx, path, "-sample_index=alloc_space")
	}
	return nil
}

// profileRun runs one scenario for the run's duration (whatever its mode) while a CPU profile is taken.
func (h *harness) profileRun(ctx context.Context, dir, target string, sc scenario, ep endpoint) error {
	seconds := int(math.Ceil(h.flags.duration.Seconds()))
	if seconds < 1 {
		seconds = 1
	}
	path := filepath.Join(dir, target+"-"+sc.name+".cpu.pprof")
	fetched := make(chan error, 1)
	o := h.loadOptions(ep, sc.stream)
	o.Conns, o.Duration = sc.conns, time.Duration(seconds)*time.Second
	o.OnWindow = func(open bool) {
		if open { // the profile covers the measured window, not the warm-up
			go func() {
				fetched <- fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", ep.pprof, seconds), path)
			}()
		}
	}
	o.Warmup = h.flags.warmup
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := <-fetched; err != nil {
		return err
	}
	h.logf("profiled %s under %s: %s", target, sc.name, res)
	h.summarize(ctx, path)
	return nil
}

// fetch saves a profile served by the gateway's --pprof listener.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize writes `go tool pprof -top` of a profile next to it (.txt) and prints its first lines. The
// binary is stripped, but the profile carries its symbols.
func (h *harness) summarize(ctx context.Context, path string, extra ...string) {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=40"}, extra...)
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).CombinedOutput()
	if err != nil {
		h.logf("go tool pprof %s: %v\n%s", path, err, out)
		return
	}
	txt := strings.TrimSuffix(path, ".pprof") + ".txt"
	_ = os.WriteFile(txt, out, 0o644)
	lines := strings.SplitN(string(out), "\n", 22)
	if len(lines) > 21 {
		lines = lines[:21]
	}
	h.logf("%s:\n%s", txt, strings.Join(lines, "\n"))
}
