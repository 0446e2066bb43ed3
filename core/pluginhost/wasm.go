package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/wasmguest"
)

// DefaultMaxMemoryMB caps a WASM instance's memory when the configuration gives no limit.
const DefaultMaxMemoryMB = 64

// wasmModule is a compiled WASM plugin with its pool of instances. Each call takes an idle instance (or makes
// one, up to the pool size), runs on it alone and gives it back; an instance that trapped, ran out of memory or
// outlived its call's deadline is closed instead, so one bad call costs one request.
type wasmModule struct {
	spec     Spec
	log      *slog.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	info     *sdk.PluginInfo

	idle  chan *instance
	slots chan struct{} // one token per live instance
	// Trapped counts instances discarded after a failed call (tests and metrics).
	mu      sync.Mutex
	trapped int
}

// instance is one instantiated module.
type instance struct {
	mod    api.Module
	buffer api.Function
	call   api.Function
}

// abi is the exports the host needs, with their numeric signatures.
var abi = []struct {
	name            string
	params, results []api.ValueType
}{
	{wasmguest.ExportABIVersion, nil, []api.ValueType{api.ValueTypeI32}},
	{wasmguest.ExportBuffer, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	{wasmguest.ExportCall, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
}

// compilation caches are shared by directory, since wazero's cache is meant to be shared across runtimes.
var caches sync.Map

func cacheFor(dir string) (wazero.CompilationCache, error) {
	if dir == "" {
		dir = "\x00memory"
	}
	if c, ok := caches.Load(dir); ok {
		return c.(wazero.CompilationCache), nil
	}
	var c wazero.CompilationCache
	if dir == "\x00memory" {
		c = wazero.NewCompilationCache()
	} else {
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			return nil, err
		}
	}
	actual, _ := caches.LoadOrStore(dir, c)
	return actual.(wazero.CompilationCache), nil
}

// LoadWASM compiles a WASM plugin, verifies its ABI and starts one instance at once, so that a bad module or a
// bad config fails at start; further instances are made on demand.
func LoadWASM(ctx context.Context, spec Spec, backends Backends) (sdk.Module, error) {
	if _, err := CheckFile(spec.Path, spec.SHA256); err != nil {
		return nil, err
	}
	code, err := os.ReadFile(spec.Path)
	if err != nil {
		return nil, err
	}
	cache, err := cacheFor(spec.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("cache_dir: %w", err)
	}
	mb := spec.MaxMemoryMB
	if mb <= 0 {
		mb = DefaultMaxMemoryMB
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(uint32(mb*16))) // 64 KiB pages
	w := &wasmModule{spec: spec, log: spec.logger(), rt: rt}
	fail := func(err error) (sdk.Module, error) {
		_ = rt.Close(context.Background())
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(err)
	}
	if _, err := rt.NewHostModuleBuilder(wasmguest.HostModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(w.hostLog),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).Export(wasmguest.ImportLog).
		Instantiate(ctx); err != nil {
		return fail(err)
	}
	if w.compiled, err = rt.CompileModule(ctx, code); err != nil {
		return fail(fmt.Errorf("%s is not a valid WASM module: %w", spec.Path, err))
	}
	if err := checkABI(w.compiled); err != nil {
		return fail(fmt.Errorf("%s: %w", spec.Path, err))
	}
	size := spec.PoolSize
	if size <= 0 {
		size = 2 * runtime.GOMAXPROCS(0)
	}
	w.idle = make(chan *instance, size)
	w.slots = make(chan struct{}, size)
	w.slots <- struct{}{}
	first, err := w.newInstance(ctx)
	if err != nil {
		return fail(err)
	}
	w.idle <- first
	switch spec.Kind {
	case "router":
		return wasmRouter{w}, nil
	case "callback":
		return wasmCallback{w}, nil
	}
	if w.info.Shape != sdk.ShapeTranslator {
		return fail(fmt.Errorf("a WASM provider must be a translator"))
	}
	m := wrapTranslator(wasmTranslator{w})
	lp := &lazyProvider{name: spec.Name, backends: backends, close: w.close}
	lp.open = func(context.Context) (sdk.Module, func(context.Context, *sdk.Target) (*sdk.Target, error), error) {
		return m, nil, nil
	}
	return lp, nil
}

func checkABI(c wazero.CompiledModule) error {
	exports := c.ExportedFunctions()
	for _, want := range abi {
		f, ok := exports[want.name]
		if !ok {
			return fmt.Errorf("not a Switchyard plugin: it does not export %s (build it with sdk/wasmguest)", want.name)
		}
		if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
			return fmt.Errorf("export %s has signature %v → %v, want %v → %v", want.name,
				f.ParamTypes(), f.ResultTypes(), want.params, want.results)
		}
	}
	for _, imp := range c.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod == wasmguest.HostModule && name != wasmguest.ImportLog {
			return fmt.Errorf("imports %s.%s, which this gateway does not offer", mod, name)
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// newInstance instantiates the module (no filesystem, no network, standard error into the log) and runs
// OpInit with the plugin's config. The caller holds a slot token, which a failure gives back.
func (w *wasmModule) newInstance(ctx context.Context) (*instance, error) {
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithStderr(logWriter{w.log}).WithStdout(logWriter{w.log}).
		WithSysWalltime().WithSysNanotime().WithRandSource(randReader{})
	mod, err := w.rt.InstantiateModule(ctx, w.compiled, cfg)
	if err != nil {
		<-w.slots
		return nil, fmt.Errorf("instantiating: %w", err)
	}
	in := &instance{mod: mod, buffer: mod.ExportedFunction(wasmguest.ExportBuffer), call: mod.ExportedFunction(wasmguest.ExportCall)}
	v, err := mod.ExportedFunction(wasmguest.ExportABIVersion).Call(ctx)
	if err != nil || uint32(v[0]) != wasmguest.ABIVersion {
		w.discard(in)
		return nil, fmt.Errorf("the module speaks ABI version %v, this gateway %d", v, wasmguest.ABIVersion)
	}
	initIn, _ := json.Marshal(wasmguest.InitInput{Kind: w.spec.Kind, Name: w.spec.Name, Config: w.spec.Config})
	out, err := in.invoke(ctx, wasmguest.OpInit, initIn)
	if err != nil {
		w.discard(in)
		return nil, err
	}
	var info wasmguest.InitOutput
	if err := json.Unmarshal(out, &info); err != nil {
		w.discard(in)
		return nil, fmt.Errorf("init: %w", err)
	}
	if w.info == nil {
		w.info = &sdk.PluginInfo{Shape: info.Shape, Features: info.Features, Capabilities: info.Capabilities,
			SDKVersion: info.SDKVersion}
	}
	return in, nil
}

// invoke runs one operation: the input goes into the guest's buffer, the output (a JSON envelope) is read out
// of its memory and unwrapped.
func (in *instance) invoke(ctx context.Context, op uint32, input []byte) ([]byte, error) {
	raw, err := in.invokeRaw(ctx, op, input)
	if err != nil {
		return nil, err
	}
	var env wasmguest.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("the module's output is not an envelope: %w", err)
	}
	if env.Error != nil {
		return nil, env.Error
	}
	return env.OK, nil
}

// invokeRaw runs one operation and returns its output as the guest wrote it, aliasing the guest's memory (valid
// until the next call on the instance). A JSON error envelope is returned as the error.
func (in *instance) invokeRaw(ctx context.Context, op uint32, input []byte) ([]byte, error) {
	res, err := in.buffer.Call(ctx, uint64(len(input)))
	if err != nil {
		return nil, err
	}
	ptr := uint32(res[0])
	if len(input) > 0 && !in.mod.Memory().Write(ptr, input) {
		return nil, fmt.Errorf("the module's input buffer %d+%d is outside its memory", ptr, len(input))
	}
	res, err = in.call.Call(ctx, uint64(op), uint64(len(input)))
	if err != nil {
		return nil, err
	}
	optr, olen := uint32(res[0]>>32), uint32(res[0])
	raw, ok := in.mod.Memory().Read(optr, olen)
	if !ok {
		return nil, fmt.Errorf("the module's output %d+%d is outside its memory", optr, olen)
	}
	if op == wasmguest.OpStreamEvents && len(raw) > 0 && raw[0] == '{' {
		var env wasmguest.Envelope
		if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil {
			return nil, fmt.Errorf("the module's output is neither frames nor an error envelope")
		}
		return nil, env.Error
	}
	return raw, nil
}

func (w *wasmModule) discard(in *instance) {
	_ = in.mod.Close(context.Background())
	<-w.slots
}

// acquire takes an idle instance, or makes one when the pool has room, or waits for one.
func (w *wasmModule) acquire(ctx context.Context) (*instance, error) {
	select {
	case in := <-w.idle:
		return in, nil
	default:
	}
	select {
	case in := <-w.idle:
		return in, nil
	case w.slots <- struct{}{}:
		in, err := w.newInstance(ctx)
		if err != nil {
			return nil, sdk.Errorf(sdk.KindServiceUnavailable, "plugin %q: %w", w.spec.Name, err)
		}
		return in, nil
	case <-ctx.Done():
		return nil, sdk.AsError(ctx.Err())
	}
}

func (w *wasmModule) release(in *instance, err error) {
	if err != nil && !isGuestError(err) {
		w.mu.Lock()
		w.trapped++
		w.mu.Unlock()
		w.discard(in)
		return
	}
	select {
	case w.idle <- in:
	default:
		w.discard(in)
	}
}

// isGuestError reports whether err is an error the guest returned (the instance is fine) rather than a trap,
// an exit or a deadline (the instance is not).
func isGuestError(err error) bool {
	var e *sdk.Error
	return errors.As(err, &e)
}

// run runs one operation on a pooled instance, bounded by ctx and the plugin's timeout.
func (w *wasmModule) run(ctx context.Context, op uint32, input []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, w.spec.timeout())
	defer cancel()
	in, err := w.acquire(ctx)
	if err != nil {
		return nil, err
	}
	out, err := in.invoke(ctx, op, input)
	w.release(in, err)
	if err != nil {
		return nil, w.wrap(ctx, err)
	}
	return out, nil
}

// wrap turns a trap, an exit or a deadline into an error of the one request.
func (w *wasmModule) wrap(ctx context.Context, err error) error {
	if isGuestError(err) {
		return err
	}
	if ctx.Err() == context.DeadlineExceeded {
		return sdk.NewError(sdk.KindServiceUnavailable,
			fmt.Sprintf("plugin %q did not answer within %s", w.spec.Name, w.spec.timeout()))
	}
	if ctx.Err() != nil {
		return sdk.AsError(ctx.Err())
	}
	w.log.Warn("WASM plugin call failed; the instance was discarded", "error", err)
	return sdk.NewError(sdk.KindServiceUnavailable, fmt.Sprintf("plugin %q failed: %v", w.spec.Name, err))
}

func (w *wasmModule) close() {
	_ = w.rt.Close(context.Background())
}

// Trapped returns how many instances were discarded after failed calls.
func (w *wasmModule) Trapped() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trapped
}

func (w *wasmModule) hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	if n > 64<<10 {
		n = 64 << 10
	}
	raw, ok := m.Memory().Read(ptr, n)
	if !ok {
		return
	}
	var rec struct {
		Msg   string         `json:"msg"`
		Attrs map[string]any `json:"attrs"`
	}
	if json.Unmarshal(raw, &rec) != nil {
		return
	}
	args := make([]any, 0, 2*len(rec.Attrs))
	for k, v := range rec.Attrs {
		args = append(args, k, v)
	}
	w.log.Log(ctx, slog.Level(level), rec.Msg, args...)
}

// logWriter forwards a guest's standard output and error into the log, one record per write.
type logWriter struct{ log *slog.Logger }

func (l logWriter) Write(p []byte) (int, error) {
	l.log.Info("plugin output", "text", string(p))
	return len(p), nil
}

// randReader gives guests the host's crypto randomness (Go's runtime asks for it at start).
type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return cryptoRead(p) }

var _ io.Reader = randReader{}
