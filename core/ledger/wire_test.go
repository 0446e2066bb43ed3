package ledger

import (
	"testing"

	"github.com/switchyard/gateway/core/store"
)

func TestReplaceNUL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`"a\u0000b"`:                 `"a\ufffdb"`,
		`"\\u0000"`:                  `"\\u0000"`, // a literal backslash and text, not a NUL
		`"\\\u0000"`:                 `"\\\ufffd"`,
		`{"k\u0000":"\u0000\u0000"}`: `{"k\ufffd":"\ufffd\ufffd"}`,
		`"\u00001"`:                  `"\ufffd1"`,
		`"\u0001"`:                   `"\u0001"`,
		`"ends with \u000`:           `"ends with \u000`,
	}
	for in, want := range cases {
		b := []byte(in)
		replaceNUL(b)
		if string(b) != want {
			t.Errorf("replaceNUL(%s) = %s, want %s", in, b, want)
		}
	}
}

func TestFrameRoundTripReplacesNUL(t *testing.T) {
	t.Parallel()
	in := store.SpendLog{RequestID: "r1", EndUser: "cu\x00st", Metadata: map[string]any{"k\x00": `v\u0000 ` + "\x00"}}
	frame, err := encodeFrame(&in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodePayload(frame[frameHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	if out.EndUser != "cu\uFFFDst" {
		t.Errorf("EndUser = %q", out.EndUser)
	}
	if v, ok := out.Metadata["k\uFFFD"].(string); !ok || v != `v\u0000 `+"\uFFFD" {
		t.Errorf("Metadata = %#v", out.Metadata)
	}
}
