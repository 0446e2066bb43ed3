package pluginhost

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/switchyard/gateway/sdk"
)

// process supervises one go-plugin binary: it starts it on first use, pings it, rebuilds it after a crash (one
// caller does the restart, the others wait for it) and kills it on Close.
type process struct {
	spec     Spec
	checksum []byte
	log      *slog.Logger

	cur atomic.Pointer[running]
	// mu serialises starts and restarts; the call path only takes it when there is no live process.
	mu     sync.Mutex
	gen    uint64
	closed bool
	// Restarts counts rebuilds after the first start (tests and metrics).
	Restarts atomic.Int64
}

// running is one live plugin process.
type running struct {
	client *plugin.Client
	proto  plugin.ClientProtocol
	remote any
	info   *sdk.PluginInfo
	gen    uint64
	stop   chan struct{}
}

// healthInterval is how often a running plugin is pinged.
var healthInterval = 10 * time.Second

// envAllowed are the only environment variables a plugin process inherits: the gateway's own environment holds
// database and Redis credentials and the master key, which plugins never get.
var envAllowed = []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "GOCOVERDIR"}

// pluginEnv is the environment of a plugin process: the allowed variables of the gateway's.
func pluginEnv() []string {
	env := []string{}
	for _, k := range envAllowed {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func newProcess(spec Spec) (*process, error) {
	// exec would look a bare name up in PATH; the configuration means a file, relative to the working directory.
	if abs, err := filepath.Abs(spec.Path); err == nil {
		spec.Path = abs
	}
	sum, err := CheckFile(spec.Path, spec.SHA256)
	if err != nil {
		return nil, err
	}
	return &process{spec: spec, checksum: sum, log: spec.logger()}, nil
}

// get returns the live process, starting one when there is none.
func (p *process) get(ctx context.Context) (*running, error) {
	if r := p.cur.Load(); r != nil && !r.client.Exited() {
		return r, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, sdk.NewError(sdk.KindServiceUnavailable, fmt.Sprintf("plugin %q is shut down", p.spec.Name))
	}
	if r := p.cur.Load(); r != nil {
		if !r.client.Exited() {
			return r, nil
		}
		p.stopLocked(r)
		p.Restarts.Add(1)
		p.log.Warn("plugin exited; restarting it")
	}
	r, err := p.start(ctx)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindServiceUnavailable, "plugin %q could not be started: %w", p.spec.Name, err)
	}
	p.cur.Store(r)
	return r, nil
}

// restart drops the process a failed call ran on, unless another caller already replaced it.
func (p *process) restart(failed *running) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur.Load() != failed {
		return
	}
	p.stopLocked(failed)
	p.cur.Store(nil)
	p.Restarts.Add(1)
	p.log.Warn("plugin failed; it will be restarted")
}

func (p *process) stopLocked(r *running) {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.client.Kill()
}

func (p *process) start(ctx context.Context) (*running, error) {
	cmd := exec.Command(p.spec.Path)
	cmd.Env = pluginEnv()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.HostPluginSet(),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     &plugin.SecureConfig{Checksum: p.checksum, Hash: sha256.New()},
		Logger:           newHCLog(p.log, p.spec.Name),
		StartTimeout:     p.spec.timeout(),
		Managed:          false,
	})
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	raw, err := proto.Dispense(p.spec.Kind)
	if err != nil {
		client.Kill()
		return nil, err
	}
	type configurer interface {
		Configure(ctx context.Context, name string, cfg map[string]any, log *slog.Logger) (*sdk.PluginInfo, error)
	}
	c, ok := raw.(configurer)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("plugin serves no %s", p.spec.Kind)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.spec.timeout())
	defer cancel()
	info, err := c.Configure(cctx, p.spec.Name, p.spec.Config, p.log)
	if err != nil {
		client.Kill()
		if s, ok := status.FromError(err); ok {
			if s.Code() == codes.Unimplemented {
				return nil, fmt.Errorf("the binary serves no %s plugin", p.spec.Kind)
			}
			return nil, errors.New(s.Message())
		}
		return nil, err
	}
	p.gen++
	r := &running{client: client, proto: proto, remote: raw, info: info, gen: p.gen, stop: make(chan struct{})}
	go p.health(r)
	p.log.Info("plugin started", "kind", p.spec.Kind, "path", p.spec.Path,
		"sdk_version", info.SDKVersion)
	return r, nil
}

// health pings the process until it is stopped; a process that does not answer is killed, to be restarted on
// next use.
func (p *process) health(r *running) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if err := r.proto.Ping(); err != nil {
			p.log.Warn("plugin health check failed", "error", err)
			p.restart(r)
			return
		}
	}
}

// transportFailed reports whether err means the plugin process is gone or unusable (rather than an error the
// plugin returned).
func transportFailed(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if _, ok := err.(*sdk.Error); ok {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.Internal, codes.Unknown:
		return true
	}
	return errors.Is(err, io.EOF)
}

// do runs fn against the live process; when the process turns out to be dead it is rebuilt and fn retried
// once. A call that outlives the plugin's timeout kills the process (a plugin stuck in a loop cannot be
// interrupted otherwise); the calls that were sharing it are retried on the new one.
func do[T any](ctx context.Context, p *process, fn func(context.Context, *running) (T, error)) (T, error) {
	return doWithin(ctx, p, p.spec.timeout(), fn)
}

// doUnbounded is do for calls bounded by the caller's context alone: a provider's upstream calls, which take as
// long as the request's own timeout allows.
func doUnbounded[T any](ctx context.Context, p *process, fn func(context.Context, *running) (T, error)) (T, error) {
	return doWithin(ctx, p, 0, fn)
}

func doWithin[T any](ctx context.Context, p *process, timeout time.Duration, fn func(context.Context, *running) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		r, err := p.get(ctx)
		if err != nil {
			return zero, err
		}
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, timeout)
		}
		start := time.Now()
		v, err := fn(cctx, r)
		// The plugin side enforces the propagated deadline too and may answer a hair before the host's timer
		// fires, so the elapsed time and the status code count as well as cctx's own state.
		timedOut := err != nil && timeout > 0 && ctx.Err() == nil && (cctx.Err() == context.DeadlineExceeded ||
			status.Code(err) == codes.DeadlineExceeded || time.Since(start) >= timeout)
		cancel()
		if err == nil {
			return v, nil
		}
		if timedOut {
			p.restart(r)
			return zero, sdk.NewError(sdk.KindServiceUnavailable,
				fmt.Sprintf("plugin %q did not answer within %s", p.spec.Name, p.spec.timeout()))
		}
		if transportFailed(ctx, err) && attempt == 0 {
			if r.client.Exited() || pingFails(r) {
				p.restart(r)
			}
			continue
		}
		return zero, pluginError(p.spec.Name, err)
	}
}

func pingFails(r *running) bool { return r.proto.Ping() != nil }

// pluginError turns a transport error into an sdk error; errors the plugin returned pass through.
func pluginError(name string, err error) error {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.DeadlineExceeded:
			return sdk.NewError(sdk.KindTimeout, fmt.Sprintf("plugin %q: %s", name, s.Message()))
		case codes.Canceled:
			return sdk.AsError(context.Canceled)
		}
		return sdk.NewError(sdk.KindServiceUnavailable, fmt.Sprintf("plugin %q failed: %s", name, s.Message()))
	}
	return sdk.Errorf(sdk.KindServiceUnavailable, "plugin %q failed: %w", name, err)
}

// Close stops the process for good.
func (p *process) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if r := p.cur.Load(); r != nil {
		if c, ok := r.remote.(interface{ Cleanup(context.Context) error }); ok && !r.client.Exited() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.Cleanup(ctx)
			cancel()
		}
		p.stopLocked(r)
		p.cur.Store(nil)
	}
}

// newHCLog returns a go-plugin logger writing into log: go-plugin logs the plugin's standard error through it.
func newHCLog(log *slog.Logger, name string) hclog.Logger {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logHCLine(log, name, sc.Bytes())
		}
	}()
	return hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: pw, JSONFormat: true, Level: hclog.Debug})
}

// logHCLine forwards one hclog JSON line.
func logHCLine(log *slog.Logger, name string, line []byte) {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		log.Info(string(line))
		return
	}
	level := slog.LevelInfo
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	var args []any
	for k, v := range m {
		switch k {
		case "@level", "@message", "@timestamp", "@module", "@caller":
			continue
		}
		args = append(args, k, v)
	}
	// go-plugin logs every line the plugin writes to standard error at debug level; those are the plugin's
	// own output, so they are worth an info line.
	if level == slog.LevelDebug && m["@module"] != nil {
		if mod, _ := m["@module"].(string); len(mod) >= 6 && mod[len(mod)-6:] == "stderr" {
			level = slog.LevelInfo
		}
	}
	log.Log(context.Background(), level, msg, args...)
}
