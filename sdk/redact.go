package sdk

import (
	"regexp"
	"strings"
)

// keyLike matches strings shaped like API keys and bearer tokens, masked or not ("sk-abc***xyz", "Bearer ey...").
var keyLike = regexp.MustCompile(`(?i)\b(?:sk|pk|rk|key|api[_-]?key|gsk|xai|nvapi|hf|fw|pplx)[-_][A-Za-z0-9_\-\*\.]{6,}|(?i:bearer\s+)[A-Za-z0-9_\-\.=\*]{8,}`)

// Redact removes credentials from text that may reach a client or a log: the given secrets wherever they appear,
// and anything shaped like an API key or bearer token.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return keyLike.ReplaceAllString(s, "[REDACTED]")
}
