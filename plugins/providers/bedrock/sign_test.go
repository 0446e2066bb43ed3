package bedrock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signBoth signs one request with signFast and with the AWS SDK's signer and returns the two header sets; fast
// reports whether signFast signed it.
func signBoth(t testing.TB, tr *Translator, rawURL string, h http.Header, body string, creds aws.Credentials,
	region string, now time.Time) (ours, sdks http.Header, fast bool) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Skip(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	ours = h.Clone()
	fast = tr.signFast(newSigningTarget(u), http.MethodPost, ours, len(body), hash, creds, region, now)
	sdks = h.Clone()
	hr := &http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: sdks, ContentLength: int64(len(body)), Host: strings.TrimSuffix(u.Host, ":")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, hr, hash, signingService, region, now); err != nil {
		t.Fatal(err)
	}
	return ours, sdks, fast
}

func sameSignature(ours, sdks http.Header) bool {
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if strings.Join(ours.Values(k), "|") != strings.Join(sdks.Values(k), "|") {
			return false
		}
	}
	return true
}

// signFast signs as the SDK does: the same Authorization, X-Amz-Date and X-Amz-Security-Token, for the requests
// the gateway sends and for the header and URL shapes SigV4 treats specially. What it leaves to the SDK it
// leaves unchanged.
func TestSignFastMatchesTheSDK(t *testing.T) {
	t.Parallel()
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	withToken := creds
	withToken.SessionToken = "session-token-example"
	json := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	now := time.Date(2024, 6, 1, 23, 59, 59, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name, url string
		header    http.Header
		body      string
		creds     aws.Credentials
		fast      bool
	}{
		{"converse", "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
			json, `{"messages":[]}`, creds, true},
		{"session token", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream",
			json, `{}`, withToken, true},
		{"inference profile ARN", "https://bedrock-runtime.us-west-2.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke",
			json, `{"a":1}`, creds, true},
		{"default https port", "https://bedrock-runtime.us-east-1.amazonaws.com:443/model/m/converse", json, `{}`, creds, true},
		{"default http port", "http://127.0.0.1:80/model/m/converse", json, `{}`, creds, true},
		{"other port", "http://127.0.0.1:8443/model/m/converse", json, `{}`, creds, true},
		{"empty body", "http://127.0.0.1:8443/model/m/converse", json, ``, creds, true},
		{"no path", "http://127.0.0.1:8443", json, `{}`, creds, true},
		{"unescaped path", "http://127.0.0.1:8443/model/a b+c/converse", json, `{}`, creds, true},
		{"values with spaces, several values, ignored headers", "https://h.example/model/m/converse", http.Header{
			"Content-Type": {"  application/json;   charset=utf-8  "}, "X-Custom": {"a", " b  c ", "\td\t"},
			"User-Agent": {"ua"}, "X-Amzn-Trace-Id": {"trace"}, "Expect": {"100-continue"},
			"Content-Length": {"999"}, "Transfer-Encoding": {"chunked"}, "Authorization": {"stale"}}, `{}`, withToken, true},
		{"stale signature headers", "https://h.example/model/m/converse", http.Header{"Content-Type": {"application/json"},
			"X-Amz-Date": {"19990101T000000Z"}, "X-Amz-Security-Token": {"old"}}, `{}`, withToken, true},
		{"a query", "https://h.example/model/m/converse?x=1&a=b%20c", json, `{}`, creds, false},
		{"a Host header", "https://h.example/model/m/converse", http.Header{"Host": {"other.example"}}, `{}`, creds, false},
		{"names differing in case", "https://h.example/model/m/converse", http.Header{"X-A": {"1"}, "x-a": {"2"}}, `{}`, creds, false},
		{"a lower-case date header", "https://h.example/model/m/converse", http.Header{"x-amz-date": {"1"}}, `{}`, creds, false},
		{"IPv6 with default port", "https://[::1]:443/model/m/converse", json, `{}`, creds, false},
		{"IPv6", "https://[::1]:8443/model/m/converse", json, `{}`, creds, true},
	} {
		tr := New()
		ours, sdks, fast := signBoth(t, tr, tc.url, tc.header, tc.body, tc.creds, "us-east-1", now)
		if fast != tc.fast {
			t.Errorf("%s: signed fast %v, want %v", tc.name, fast, tc.fast)
			continue
		}
		if !fast {
			if !reflectEqualHeader(ours, tc.header) {
				t.Errorf("%s: left to the SDK, but the headers changed: %v", tc.name, ours)
			}
			continue
		}
		if !sameSignature(ours, sdks) {
			t.Errorf("%s:\n ours %q\n sdk  %q", tc.name, ours, sdks)
		}
		// Signed again (the derived key kept, the buffers reused), the same.
		again, _, _ := signBoth(t, tr, tc.url, tc.header, tc.body, tc.creds, "us-east-1", now)
		if !sameSignature(again, sdks) {
			t.Errorf("%s: the second signature differs", tc.name)
		}
	}
}

func reflectEqualHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// A derived key is for one secret, day and region: signing with another gives the SDK's signature for it.
func TestSigningKeysPerSecretDayAndRegion(t *testing.T) {
	t.Parallel()
	tr := New()
	h := http.Header{"Content-Type": {"application/json"}}
	day := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		secret, region string
		at             time.Time
	}{{"s1", "us-east-1", day}, {"s2", "us-east-1", day}, {"s1", "eu-west-1", day}, {"s1", "us-east-1", day.AddDate(0, 0, 1)},
		{"s1", "us-east-1", day}} {
		ours, sdks, fast := signBoth(t, tr, "https://h.example/model/m/converse", h, `{}`,
			aws.Credentials{AccessKeyID: "AK", SecretAccessKey: c.secret}, c.region, c.at)
		if !fast || !sameSignature(ours, sdks) {
			t.Fatalf("case %d: fast %v\n ours %q\n sdk  %q", i, fast, ours, sdks)
		}
	}
	for i := range 2 * maxSigningKeys {
		tr.signingKey("s", "2024060"+string(rune('0'+i%10)), string(rune('a'+i/10)))
	}
	if n := tr.nkeys.Load(); n > maxSigningKeys {
		t.Fatalf("%d signing keys kept, at most %d", n, maxSigningKeys)
	}
}

// FuzzSignFast holds signFast to the SDK's signature for any path, header value and session token it signs.
func FuzzSignFast(f *testing.F) {
	f.Add("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", " a  b ", "X-Custom", "tok", "{}")
	f.Add("/model/x/invoke", "\t v \t", "Accept", "", "")
	f.Add("/", "", "Content-Type", "", "{}")
	f.Fuzz(func(t *testing.T, path, value, name, token, body string) {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") || strings.ContainsAny(value, "\r\n") {
			return
		}
		h := http.Header{"Content-Type": {"application/json"}}
		h[http.CanonicalHeaderKey(name)] = []string{value}
		creds := aws.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: token}
		ours, sdks, fast := signBoth(t, New(), "https://h.example"+path, h, body, creds, "us-east-1",
			time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
		if fast && !sameSignature(ours, sdks) {
			t.Fatalf("ours %q\nsdk  %q", ours, sdks)
		}
	})
}

// BenchmarkAuthorize is SigV4 signing of a Converse request: signFast, and the SDK's signer it stands in for.
func BenchmarkAuthorize(b *testing.B) {
	u, _ := url.Parse("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse")
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "token"}
	body := []byte(strings.Repeat("x", 300))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	now := time.Now()
	b.Run("fast", func(b *testing.B) {
		tr, st := New(), newSigningTarget(u)
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
			if !tr.signFast(st, http.MethodPost, h, len(body), hash, creds, "us-east-1", now) {
				b.Fatal("not signed")
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		s := v4.NewSigner()
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
			uc := *u
			hr := &http.Request{Method: http.MethodPost, URL: &uc, Header: h, ContentLength: int64(len(body)), Host: u.Host}
			if err := s.SignHTTP(context.Background(), creds, hr, hash, signingService, "us-east-1", now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
