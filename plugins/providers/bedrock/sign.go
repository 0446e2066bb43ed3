package bedrock

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Requests are signed with AWS Signature Version 4. The AWS SDK's signer (v4.Signer) signs any request, but it
// builds the canonical request through maps, sorted string slices, a parsed query and strings joined several
// times: about 9% of the gateway's CPU for a Bedrock call. A Bedrock request is simpler: a POST to a path with
// no query, a handful of headers. signFast signs such a request with the same canonical form (the SigV4
// specification, as the SDK applies it: the path escaped a second time, host and content-length signed, the
// SDK's ignored headers left out, values trimmed and inner runs of spaces made one) into one reused buffer, and
// keeps the derived signing key for the day. Anything else (a query, an opaque URL, two header names differing
// only in case) goes to the SDK's signer. The tests hold signFast to the SDK's signature, header for header.

// signingTarget is what signing needs of a request URL, worked out once per URL.
type signingTarget struct {
	// u is the parsed URL, for the SDK's signer, which changes its query: it is given a copy.
	u *url.URL
	// host is the Host signed: the URL's, without a port that is the scheme's default.
	host string
	// uri is the canonical URI: the escaped path, escaped again; fast is false when signFast cannot sign for
	// this URL (a query or an opaque part).
	uri  string
	fast bool
}

func newSigningTarget(u *url.URL) *signingTarget {
	st := &signingTarget{u: u, host: strings.TrimSuffix(u.Host, ":"), fast: u.Opaque == "" && u.RawQuery == "" &&
		!u.ForceQuery}
	if port := u.Port(); port != "" && (strings.EqualFold(u.Scheme, "https") && port == "443" ||
		strings.EqualFold(u.Scheme, "http") && port == "80") {
		st.host = u.Hostname()
		if strings.Contains(st.host, ":") {
			st.fast = false // an IPv6 literal: left to the SDK
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	st.uri = string(appendEscaped(nil, path, true))
	return st
}

// sigHeader is one signed header: its lower-case name and its values.
type sigHeader struct {
	name string
	vals []string
}

// signBuf is the reused memory of one signature.
type signBuf struct {
	headers []sigHeader
	b       []byte
}

var signBufs = sync.Pool{New: func() any { return &signBuf{b: make([]byte, 0, 1024)} }}

// signKey is a derived signing key, with HMACs keyed with it for reuse.
type signKey struct {
	key  []byte
	macs sync.Pool // hash.Hash
}

// sign returns the HMAC-SHA256 of msg with the key, appended to dst.
func (k *signKey) sign(dst, msg []byte) []byte {
	mac, _ := k.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, k.key)
	}
	mac.Write(msg)
	dst = mac.Sum(dst)
	mac.Reset()
	k.macs.Put(mac)
	return dst
}

// signingKey returns the key that signs for a secret on a day in a region, derived once and kept.
func (tr *Translator) signingKey(secret, day, region string) *signKey {
	id := secret + "\x00" + day + "\x00" + region
	if k, ok := tr.signKeys.Load(id); ok {
		return k.(*signKey)
	}
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(data))
		return h.Sum(nil)
	}
	key := mac(mac(mac(mac([]byte("AWS4"+secret), day), region), signingService), "aws4_request")
	if tr.nkeys.Add(1) > maxSigningKeys { // credentials or days come and go: start over rather than grow
		tr.signKeys.Clear()
		tr.nkeys.Store(1)
	}
	k := &signKey{key: key}
	tr.signKeys.Store(id, k)
	return k
}

// maxSigningKeys bounds the derived keys kept (one per credentials, region and day).
const maxSigningKeys = 64

// signFast signs a request for st with method, headers h (changed in place: X-Amz-Date, X-Amz-Security-Token
// and Authorization are set), a body of length n whose SHA-256 is payloadHash (hex). It reports false, having
// changed nothing, when the request is not one it signs; the caller then uses the SDK's signer.
func (tr *Translator) signFast(st *signingTarget, method string, h http.Header, n int, payloadHash string,
	creds aws.Credentials, region string, now time.Time) bool {
	if !st.fast {
		return false
	}
	sb := signBufs.Get().(*signBuf)
	defer func() {
		clear(sb.headers)
		sb.headers = sb.headers[:0]
		if cap(sb.b) <= 64<<10 {
			signBufs.Put(sb)
		}
	}()
	hs := append(sb.headers, sigHeader{name: "host"})
	if n > 0 {
		hs = append(hs, sigHeader{name: "content-length"})
	}
	for k, v := range h {
		switch k {
		case "Authorization", "User-Agent", "X-Amzn-Trace-Id", "Expect", "Transfer-Encoding", "X-Amz-Date",
			"X-Amz-Security-Token":
			continue // not signed, or set below
		}
		if strings.EqualFold(k, "content-length") {
			continue
		}
		name := lowerHeaderName(k)
		if name == "x-amz-date" || name == "x-amz-security-token" {
			return false // a name set below, spelled otherwise: left to the SDK
		}
		for _, o := range hs {
			if o.name == name {
				return false // two names for one header (or a Host header): left to the SDK
			}
		}
		hs = append(hs, sigHeader{name: name, vals: v})
	}
	now = now.UTC()
	var dateBuf [16]byte
	amzDate := string(now.AppendFormat(dateBuf[:0], "20060102T150405Z"))
	day := amzDate[:8]
	h["X-Amz-Date"] = append(h["X-Amz-Date"][:0], amzDate)
	hs = append(hs, sigHeader{name: "x-amz-date", vals: h["X-Amz-Date"]})
	if creds.SessionToken != "" {
		h["X-Amz-Security-Token"] = append(h["X-Amz-Security-Token"][:0], creds.SessionToken)
		hs = append(hs, sigHeader{name: "x-amz-security-token", vals: h["X-Amz-Security-Token"]})
	} else {
		delete(h, "X-Amz-Security-Token")
	}
	for i := 1; i < len(hs); i++ { // insertion sort: a handful of names
		for j := i; j > 0 && hs[j].name < hs[j-1].name; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	sb.headers = hs

	// The canonical request, then its hash.
	b := append(sb.b[:0], method...)
	b = append(append(append(b, '\n'), st.uri...), "\n\n"...)
	for _, x := range hs {
		b = append(append(b, x.name...), ':')
		switch x.name {
		case "host":
			b = appendCollapsed(b, st.host)
		case "content-length":
			b = strconv.AppendInt(b, int64(n), 10)
		default:
			for j, v := range x.vals {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendTrimmed(b, v)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	signedFrom := len(b)
	for i, x := range hs {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, x.name...)
	}
	signed := string(b[signedFrom:])
	b = append(append(b, '\n'), payloadHash...)
	canonicalSum := sha256.Sum256(b)

	// The string to sign, its signature, the header.
	scope := day + "/" + region + "/" + signingService + "/aws4_request"
	b = append(b[:0], "AWS4-HMAC-SHA256\n"...)
	b = append(append(b, amzDate...), '\n')
	b = append(append(b, scope...), '\n')
	b = hex.AppendEncode(b, canonicalSum[:])
	var sum [sha256.Size]byte
	sig := tr.signingKey(creds.SecretAccessKey, day, region).sign(sum[:0], b)
	b = append(b[:0], "AWS4-HMAC-SHA256 Credential="...)
	b = append(append(append(b, creds.AccessKeyID...), '/'), scope...)
	b = append(append(b, ", SignedHeaders="...), signed...)
	b = hex.AppendEncode(append(b, ", Signature="...), sig)
	h["Authorization"] = append(h["Authorization"][:0], string(b))
	sb.b = b
	return true
}

// lowerHeaderName is a header name in lower case, without allocating for the ones a Bedrock request carries.
func lowerHeaderName(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "Accept":
		return "accept"
	case "X-Amzn-Bedrock-Accept":
		return "x-amzn-bedrock-accept"
	}
	return strings.ToLower(k)
}

// appendTrimmed appends a header value as SigV4 signs it: spaces at either end gone, a run of spaces inside made
// one, then any other white space at either end gone.
func appendTrimmed(b []byte, v string) []byte {
	from := len(b)
	b = appendCollapsed(b, v)
	t := bytes.TrimSpace(b[from:])
	return b[:from+copy(b[from:], t)]
}

// appendCollapsed appends v without spaces at either end and with each run of spaces inside made one.
func appendCollapsed(b []byte, v string) []byte {
	v = strings.Trim(v, " ")
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b = append(b, v[i])
	}
	return b
}
