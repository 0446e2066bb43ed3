package main

import (
	"bytes"
	"context"
	"testing"
)

// The example must keep running as documented.
func TestExampleRuns(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, false); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, line := range []string{
		"mock/demo: Hello from Switchyard's demo model demo. You said: What is Kubernetes?\n",
		"mock/demo (streamed): Hello from Switchyard's demo model demo. You said: What is Kubernetes?\n",
		"embeddings: 2 vectors of 4 dimensions\n",
	} {
		if !bytes.Contains([]byte(got), []byte(line)) {
			t.Fatalf("output lacks %q:\n%s", line, got)
		}
	}
}
