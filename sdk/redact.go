package sdk

import (
	"regexp"
	"strings"
)

// keyLike matches strings shaped like API keys and bearer tokens, masked or not ("sk-abc***xyz", "Bearer ey...").
// A bearer token takes RFC 6750's b64token characters, so that a base64 token is not cut at a '+' or '/' with
// its tail left in the clear; Google API keys (AIza...) travel in URLs (?key=), which errors quote.
var keyLike = regexp.MustCompile(`(?i)\b(?:sk|pk|rk|key|api[_-]?key|gsk|xai|nvapi|hf|fw|pplx)[-_][A-Za-z0-9_\-\*\.]{6,}|(?i:bearer\s+)[A-Za-z0-9_\-\.~+/=\*]{8,}|\bAIza[0-9A-Za-z_\-]{35}`)

// wordsLike matches what keyLike takes for a key but is ordinary text: a prefix that is also a word or an
// identifier followed by lower-case words ("key-value-store", "api-key-rotation", "hf_hub_download"). Real keys
// after these prefixes have digits, capitals or a mask.
var wordsLike = regexp.MustCompile(`^(?i:key|api[_-]?key|hf|fw|pk|rk)[-_][a-z_\-\.]+$`)

// Redact removes credentials from text that may reach a client or a log: the given secrets wherever they appear,
// and anything shaped like an API key or bearer token.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return keyLike.ReplaceAllStringFunc(s, func(m string) string {
		if wordsLike.MatchString(m) {
			return m
		}
		return "[REDACTED]"
	})
}
