// Package plugintest is the conformance kit for Switchyard plugins: it runs the same scenarios against a plugin
// in-process, as a go-plugin binary and as a WASM module, through the real gateway and its plugin hosts. A
// plugin author calls it from a test:
//
//	func TestConformance(t *testing.T) {
//		plugintest.RunProvider(t, plugintest.Provider{
//			Name:     "myprov",
//			New:      func() sdk.Module { return myprov.New() },
//			Binary:   plugintest.BuildGoPlugin(t, "./cmd/myprov-plugin"),
//			WASM:     plugintest.BuildWASM(t, "./cmd/myprov-wasm"),
//			Upstream: myprovfake.Handler(),
//			Model:    "some-model",
//		})
//	}
//
// Provider scenarios (plain, stream, tools, errors) need a fake upstream speaking the provider's wire format and
// following the convention documented in this package (see Convention); router scenarios check that picks stay
// among the offered candidates and follow weights; callback scenarios deliver success and failure events and
// hand what the callback logged to a check of the author's.
//
// Unlike package sdk, this kit imports the gateway itself (it is a test harness running the real host); the
// gateway never imports it.
package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Mode is how a plugin is loaded.
type Mode string

// Modes.
const (
	InProcess Mode = "inprocess"
	GoPlugin  Mode = "goplugin"
	WASM      Mode = "wasm"
)

// BuildGoPlugin builds a main package as a go-plugin binary into the test's temporary directory.
func BuildGoPlugin(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	build(t, out, pkg, nil)
	return out
}

// BuildWASM builds a main package as a WASM module (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared).
func BuildWASM(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
	build(t, out, pkg, []string{"GOOS=wasip1", "GOARCH=wasm"}, "-buildmode=c-shared")
	return out
}

func build(t testing.TB, out, pkg string, env []string, flags ...string) {
	t.Helper()
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
}

// modes returns the modes to run: in-process always, the others when their artefact is given.
func modes(binary, wasm string) []Mode {
	m := []Mode{InProcess}
	if binary != "" {
		m = append(m, GoPlugin)
	}
	if wasm != "" {
		m = append(m, WASM)
	}
	return m
}
