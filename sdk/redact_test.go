package sdk_test

import (
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestRedactExplicitSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		secrets []string
		want    string
	}{
		{"key hunter22 failed, retried with hunter22", []string{"hunter22"}, "key [REDACTED] failed, retried with [REDACTED]"},
		{"a=alpha1 b=bravo2", []string{"alpha1", "bravo2"}, "a=[REDACTED] b=[REDACTED]"},
		// Secrets this short would shred ordinary text; they are left to the shape matcher.
		{"abc is fine", []string{"abc", ""}, "abc is fine"},
		{"nothing to hide", nil, "nothing to hide"},
	}
	for _, tt := range tests {
		if got := sdk.Redact(tt.in, tt.secrets...); got != tt.want {
			t.Errorf("Redact(%q, %q) = %q, want %q", tt.in, tt.secrets, got, tt.want)
		}
	}
}

func TestRedactKeyShapes(t *testing.T) {
	t.Parallel()
	// Each token is a plausible credential; none may survive, in whole or in a recognisable piece.
	tokens := []string{
		"sk-abc123DEF456ghi789JKL012mno345PQR678stu901vwx",
		"sk-proj-Ab3dE_fGh1-jKl2mNoP3qRsT4uVwX5yZ6aB7cD8eF9gH0",
		"sk-ant-api03-AbCdEfGh12345678_ijklMNOP-qrstUV",
		"sk-abc***xyz",
		"sk-1234567",
		"gsk_8Fh3kLm9Qw2Zx7Vb4Nc6Rt1Yu5Io0Pa3Sd",
		"hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
		"nvapi-Xy1_Zz2-Ww3Vv4Uu5Tt6Ss7Rr8Qq9Pp0",
		"xai-AbCdEf123456GhIjKl",
		"pplx-0123456789abcdef0123456789abcdef",
		"fw_3ZQk8Yv2Lm9Np4Rs7Tu1Wx",
		"AIzaSyA-1234567890abcdefghijklmnopqrst_",
	}
	contexts := []string{
		"%s",
		"Incorrect API key provided: %s, see the docs",
		`{"error":{"message":"bad key %s"}}`,
		"Post \"https://generativelanguage.googleapis.com/v1beta/models/gemini:generateContent?key=%s\": dial tcp: timeout",
	}
	for _, tok := range tokens {
		for _, c := range contexts {
			in := strings.Replace(c, "%s", tok, 1)
			got := sdk.Redact(in)
			if strings.Contains(got, tok[len(tok)-6:]) || !strings.Contains(got, "[REDACTED]") {
				t.Errorf("Redact(%q) = %q", in, got)
			}
		}
	}
}

func TestRedactBearerTokens(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
			"Authorization: [REDACTED]"},
		{"authorization: bearer abcd1234efgh5678", "authorization: [REDACTED]"},
		{"BEARER\tAbCd1234EfGh", "[REDACTED]"},
		// A standard-base64 token must go whole, not up to its first '+' or '/'.
		{"Bearer dGhpcyBpcyBh+c2VjcmV0/a2V5IGluZGVlZA== rest", "[REDACTED] rest"},
		{"Bearer ya29.a0AfH6SMB~x-y_z.1234 rest", "[REDACTED] rest"},
		{"Bearer abc***xyz12", "[REDACTED]"},
	}
	for _, tt := range tests {
		if got := sdk.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactLeavesOrdinaryTextAlone(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"keyboard",
		"sketch",
		"task-force",
		"The risk-assessment for the kiosk-mode rollout is done.",
		"ask-me-anything, desk_lamp, whisky-sour, skyline",
		"sk-short",
		"use a key-value store; key_error; apikey",
		"the key-value-store and the key-management-service",
		"api-key-rotation is scheduled",
		"hf_hub_download failed for the model",
		"fw-update-channel",
		"monkey-patching is discouraged",
		"gpt-4o-mini, claude-3-5-sonnet-20241022, text-embedding-3-small",
		"Bearer of bad news",
		"x-api-key header missing",
		"rate limit: 10000 tokens per minute, retry in 1.5s",
		"request id req_0123456789abcdef",
		"",
	} {
		if got := sdk.Redact(s); got != s {
			t.Errorf("Redact(%q) = %q, want it unchanged", s, got)
		}
	}
}
