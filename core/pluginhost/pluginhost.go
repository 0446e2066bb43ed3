// Package pluginhost loads plugins from outside the gateway binary and presents them to the rest of the core as
// ordinary sdk modules (sdk.Translator or sdk.Provider, sdk.Router, sdk.Callback), so the pipeline never knows
// how a plugin is loaded.
//
// Two transports: go-plugin binaries (exec:, a supervised child process spoken to over gRPC; see goplugin.go)
// and WASM modules (wasm:, run in-process by wazero; see wasm.go).
package pluginhost

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Spec says where a plugin comes from and how to run it.
type Spec struct {
	// Name is the plugin's name in the configuration; Kind is "provider", "router" or "callback".
	Name, Kind string
	// Path is the binary or module file.
	Path string
	// SHA256, when set, pins the file: loading fails when its hash differs.
	SHA256 string
	// Config is the plugin's config map.
	Config map[string]any
	// Timeout bounds each call into the plugin (default 30 s).
	Timeout time.Duration
	// PoolSize and MaxMemoryMB bound a WASM module's instances; CacheDir keeps compiled modules on disk.
	PoolSize, MaxMemoryMB int
	CacheDir              string
	// Logger receives the plugin's log and its standard error.
	Logger *slog.Logger
}

// DefaultTimeout bounds a plugin call when the configuration gives no timeout.
const DefaultTimeout = 30 * time.Second

func (s *Spec) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Spec) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// CheckFile checks that the plugin's file exists and, when pinned, has the pinned SHA-256. It returns the hash.
func CheckFile(path, pinned string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	sum := h.Sum(nil)
	if pinned != "" {
		want, err := hex.DecodeString(pinned)
		if err != nil || subtle.ConstantTimeCompare(want, sum) != 1 {
			return nil, fmt.Errorf("%s has SHA-256 %x, not the pinned %s", path, sum, pinned)
		}
	}
	return sum, nil
}
