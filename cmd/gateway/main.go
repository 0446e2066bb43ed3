// Command gateway runs the Switchyard AI gateway.
//
//	gateway --config config.yaml --port 4000     serve a LiteLLM-style config file
//	gateway --model gpt-4o                        serve one model, key from the provider's usual variable
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	_ "github.com/switchyard/gateway/plugins/all"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	keepSysmonAwake()        // first: it may start the process again
	startGCTuner(gcHeadroom) // the process's policy, so not in run, which tests call in-process
	listening = debug.FreeOSMemory
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listening is called once the gateway listens, before it serves. The process returns what starting allocated
// (the configuration read, migrations, the price list) to the system then: with the heap allowed to grow about
// ten times the live heap before it is collected (gctune.go), that garbage would otherwise stay resident until
// load brought the first collection: about 3 MiB of an idle gateway's resident memory (the harness's idle RSS,
// bare 33 -> 30 MiB, governed 38 -> 35 MiB). Tests calling run in-process leave it unset.
var listening = func() {}

type options struct {
	configPath string
	host       string
	port       int
	model      string
	alias      string
	apiBase    string
	debug      bool
	jsonLogs   bool
	version    bool
	dataDir    string
	pprofAddr  string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configPath, "config", "", "LiteLLM-style config.yaml to serve")
	fs.StringVar(&o.host, "host", "0.0.0.0", "address to listen on")
	fs.IntVar(&o.port, "port", 4000, "port to listen on")
	fs.StringVar(&o.model, "model", "", "serve this one model (provider/model, or a bare OpenAI model name); "+
		"credentials come from the provider's usual environment variable")
	fs.StringVar(&o.alias, "alias", "", "public name of the --model model (default: the model name)")
	fs.StringVar(&o.apiBase, "api_base", "", "base URL of the --model model's API")
	fs.BoolVar(&o.debug, "debug", false, "log every request")
	fs.BoolVar(&o.jsonLogs, "json_logs", false, "log in JSON")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.dataDir, "data-dir", cmp.Or(os.Getenv("SWITCHYARD_DATA_DIR"), ".switchyard"),
		"where state is kept: the SQLite database (unless database_url names one) and the spend ledger's outbox "+
			"(env SWITCHYARD_DATA_DIR)")
	fs.StringVar(&o.pprofAddr, "pprof", os.Getenv("SWITCHYARD_PPROF"), "serve Go's runtime profiles "+
		"(/debug/pprof/) on this address, e.g. 127.0.0.1:6060; off when empty (env SWITCHYARD_PPROF)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Switchyard %s: an OpenAI-compatible AI gateway.\n\nUsage:\n"+
			"  gateway --config config.yaml [--port 4000]\n  gateway --model gpt-4o\n\nFlags:\n", version)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment: SWITCHYARD__<SECTION>__<KEY> overrides a key of the config file "+
			"(SWITCHYARD__GENERAL_SETTINGS__MASTER_KEY); LITELLM_MASTER_KEY and DATABASE_URL are read as in LiteLLM; "+
			"LITELLM_LOG=DEBUG logs every request.\n")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if o.port < 0 || o.port > 65535 {
		return nil, fmt.Errorf("--port %d: not a port number", o.port)
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 2
	}
	if o.version {
		fmt.Fprintln(stdout, "switchyard", version)
		return 0
	}

	loaded, err := loadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 1
	}
	logs := newBufferedLog(stderr, logBufferSize, logFlushInterval)
	defer logs.Flush()
	log := newLogger(logs, o, loaded.Config)
	for _, w := range loaded.Warnings {
		log.Warn("config: " + w)
	}
	if err := loaded.ApplyEnvironment(); err != nil {
		log.Error("config", "error", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw, err := gateway.New(ctx, gateway.Options{Config: loaded.Config, Logger: log, Version: version,
		DataDir: o.dataDir})
	if err != nil {
		log.Error("cannot start: " + err.Error())
		return 1
	}
	for _, w := range gw.Warnings {
		log.Warn(w)
	}

	if o.pprofAddr != "" {
		pln, err := servePprof(o.pprofAddr, log)
		if err != nil {
			log.Error("cannot serve profiles", "addr", o.pprofAddr, "error", err)
			gw.Close()
			return 1
		}
		defer pln.Close()
	}

	addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("cannot listen", "addr", addr, "error", err)
		gw.Close()
		return 1
	}
	log.Info("switchyard is serving", "addr", ln.Addr().String(), "version", version,
		"models", len(loaded.ModelList))
	_ = logs.Flush() // the start is worth seeing at once
	listening()

	served := make(chan error, 1)
	go func() { served <- gw.Serve(ln) }()
	select {
	case err := <-served:
		if err != nil {
			log.Error("server stopped", "error", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	stop() // a second signal kills at once

	grace := 30 * time.Second
	if s := loaded.GeneralSettings.ShutdownTimeout; s > 0 {
		grace = time.Duration(s * float64(time.Second))
	}
	log.Info("shutting down: finishing requests under way", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		log.Warn("shutdown grace period over; requests still running were cancelled", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// loadConfig reads --config and adds the --model quick-mode model.
func loadConfig(o *options) (*config.Loaded, error) {
	var loaded *config.Loaded
	var err error
	if o.configPath != "" {
		loaded, err = config.Load(o.configPath, config.Options{})
	} else {
		loaded, err = config.Parse(nil, config.Options{})
	}
	if err != nil {
		return nil, err
	}
	if o.model != "" {
		name := o.alias
		if name == "" {
			name = o.model
		}
		loaded.ModelList = append(loaded.ModelList, config.ModelEntry{
			ModelName:     name,
			LiteLLMParams: config.LiteLLMParams{Model: o.model, APIBase: o.apiBase},
		})
	}
	if len(loaded.ModelList) == 0 {
		return nil, errors.New("no models to serve: pass --config with a model_list, or --model")
	}
	return loaded, nil
}

func newLogger(w *bufferedLog, o *options, cfg *config.Config) *slog.Logger {
	level := slog.LevelInfo
	if o.debug || cfg.LiteLLMSettings.SetVerbose || strings.EqualFold(os.Getenv("LITELLM_LOG"), "DEBUG") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if o.jsonLogs || cfg.LiteLLMSettings.JSONLogs || os.Getenv("JSON_LOGS") == "True" {
		return slog.New(flushingHandler{newLineHandler(w, opts, true), w})
	}
	return slog.New(flushingHandler{newLineHandler(w, opts, false), w})
}
