// Package auth is the pipeline's auth stage: it turns the API key a client presents into a Principal.
//
// Keys are never kept or compared in clear: the master key is hashed (SHA-256) when the gateway starts and a
// presented key is hashed and compared in constant time. With no master key configured, auth is off and every
// request is anonymous (the gateway warns about that at start).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Stage authenticates calls.
type Stage struct {
	master  [sha256.Size]byte
	enabled bool
	lookup  Lookup
}

// Lookup authenticates a key other than the master key (virtual keys, core/governance); it returns the
// caller or an error to send to the client.
type Lookup func(ctx context.Context, key string) (*pipeline.Principal, error)

// New returns the auth stage; an empty masterKey turns auth off. With a lookup, every key is checked by it
// (the master key included); without one, only the master key is accepted.
func New(masterKey string, lookup Lookup) *Stage {
	if masterKey == "" {
		return &Stage{}
	}
	return &Stage{master: sha256.Sum256([]byte(masterKey)), enabled: true, lookup: lookup}
}

// Enabled reports whether requests need a key.
func (s *Stage) Enabled() bool { return s.enabled }

func (s *Stage) Name() string { return "auth" }

func (s *Stage) After(*pipeline.Call) {}

var anonymous = &pipeline.Principal{}

func (s *Stage) Before(ctx context.Context, c *pipeline.Call) error {
	if c.Principal != nil { // set by an in-process caller (library mode), which is trusted
		return nil
	}
	if !s.enabled {
		c.Principal = anonymous
		return nil
	}
	p, err := s.authenticate(ctx, c.Credential)
	if err != nil {
		return err
	}
	c.Principal = p
	return nil
}

// Authenticate checks a presented key.
func (s *Stage) Authenticate(key string) (*pipeline.Principal, error) {
	return s.authenticate(context.Background(), key)
}

func (s *Stage) authenticate(ctx context.Context, key string) (*pipeline.Principal, error) {
	if s.lookup != nil {
		return s.lookup(ctx, key)
	}
	if key == "" {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: no API key was sent. Send it as "+
			"'Authorization: Bearer <key>', 'x-api-key: <key>' or 'api-key: <key>'.")
	}
	h := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(h[:], s.master[:]) != 1 {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")
	}
	return &pipeline.Principal{KeyHash: hex.EncodeToString(h[:]), KeyAlias: "master", Admin: true}, nil
}
