// Package golden compares test output with golden files, or rewrites them when the test binary runs with
// -update. The providers' translator tests share it.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Update reports whether the golden files are being rewritten (-update).
func Update() bool { return *update }

// Bytes compares got with the file at path, or writes got there under -update.
func Bytes(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// JSON encodes v indented, with a final newline, and compares it as Bytes does.
func JSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	Bytes(t, path, append(b, '\n'))
}

// RawJSON indents JSON bytes, with a final newline, and compares them as Bytes does.
func RawJSON(t testing.TB, path string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", path, err, got)
	}
	pretty.WriteByte('\n')
	Bytes(t, path, pretty.Bytes())
}
