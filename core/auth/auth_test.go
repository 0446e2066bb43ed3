package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

func TestAuthStage(t *testing.T) {
	t.Parallel()
	const master = "sk-master-0123456789"
	sum := sha256.Sum256([]byte(master))
	masterHash := hex.EncodeToString(sum[:])
	trusted := &pipeline.Principal{KeyAlias: "library", TeamID: "t1"}
	cases := []struct {
		name       string
		masterKey  string
		credential string
		preset     *pipeline.Principal
		wantErr    string // non-empty: a 401 whose message contains it
		want       pipeline.Principal
		wantSame   bool // the preset principal itself is kept
	}{
		{name: "auth off: anonymous", credential: "anything", want: pipeline.Principal{}},
		{name: "auth off, no key: anonymous"},
		{name: "missing key", masterKey: master, wantErr: "no API key was sent"},
		{name: "wrong key", masterKey: master, credential: "sk-master-012345678", wantErr: "not valid"},
		{name: "the key with a suffix", masterKey: master, credential: master + "0", wantErr: "not valid"},
		{name: "master key", masterKey: master, credential: master,
			want: pipeline.Principal{KeyHash: masterHash, KeyAlias: "master", Admin: true}},
		{name: "an in-process caller's principal is kept", masterKey: master, preset: trusted, wantSame: true},
		{name: "kept with auth off too", preset: trusted, wantSame: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(tc.masterKey, nil)
			if s.Enabled() != (tc.masterKey != "") {
				t.Fatalf("Enabled = %v", s.Enabled())
			}
			c := &pipeline.Call{Credential: tc.credential, Principal: tc.preset}
			err := s.Before(context.Background(), c)
			s.After(c)
			if tc.wantErr != "" {
				e := sdk.AsError(err)
				if e == nil || e.Kind != sdk.KindAuthentication || e.HTTPStatus() != 401 ||
					!strings.Contains(e.Message, tc.wantErr) {
					t.Fatalf("err = %v, want a 401 saying %q", err, tc.wantErr)
				}
				if c.Principal != nil {
					t.Fatalf("a rejected call got a principal: %+v", c.Principal)
				}
				if tc.credential != "" && strings.Contains(e.Message, tc.credential) {
					t.Fatal("the error quotes the presented key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSame {
				if c.Principal != tc.preset {
					t.Fatal("the preset principal was replaced")
				}
				return
			}
			if c.Principal == nil || !reflect.DeepEqual(*c.Principal, tc.want) {
				t.Fatalf("principal = %+v, want %+v", c.Principal, tc.want)
			}
		})
	}
}

func TestAuthenticateHashesInsteadOfKeeping(t *testing.T) {
	t.Parallel()
	const key = "sk-secret-abcdef"
	p, err := New(key, nil).Authenticate(key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.KeyHash, key) || len(p.KeyHash) != 64 {
		t.Fatalf("key hash %q", p.KeyHash)
	}
	if New(key, nil).Name() != "auth" {
		t.Fatal("name")
	}
}

// A stage that runs first sees the auth failure end the call before any later stage.
func TestAuthInPipeline(t *testing.T) {
	t.Parallel()
	later := &counting{}
	p := pipeline.New(New("sk-master-key", nil), later)
	c := &pipeline.Call{Credential: "sk-other"}
	p.Run(context.Background(), c)
	p.Finish(c)
	if c.Err == nil || c.Err.HTTPStatus() != 401 || later.before != 0 {
		t.Fatalf("err %v, later stage ran %d times", c.Err, later.before)
	}
}

type counting struct{ before int }

func (s *counting) Name() string                                 { return "counting" }
func (s *counting) Before(context.Context, *pipeline.Call) error { s.before++; return nil }
func (s *counting) After(*pipeline.Call)                         {}
