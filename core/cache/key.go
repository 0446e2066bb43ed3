package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// keyVersion starts every hashed key; it changes when the canonical form does, so that old entries are never
// read as new ones.
const keyVersion = "switchyard-cache-v1"

// Tenant returns the cache tenant of a caller: its team, else its key, else "" (unauthenticated callers share
// one tenant). Answers are never shared across tenants: a key of one team never gets another team's answer.
func Tenant(p *pipeline.Principal) string {
	switch {
	case p == nil:
		return ""
	case p.TeamID != "":
		return "team:" + p.TeamID
	case p.KeyHash != "":
		return "key:" + p.KeyHash
	}
	return ""
}

// excluded reports a top-level request member that does not change the answer and so stays out of the key:
// the model (the key holds the model asked for, c.Model, instead: it may come from the URL), how the answer is
// delivered (stream, stream_options), and the gateway controls, except mock_response, which is the answer.
//
// The OpenAI `user` field is kept: an application that names its end users gets an answer cache per end user,
// as LiteLLM does (its key covers every OpenAI parameter).
func excluded(name []byte) bool {
	switch string(name) {
	case "model", "stream", "stream_options":
		return true
	case "mock_response":
		return false
	}
	return sdk.IsControlField(name)
}

// Key returns the cache key of a chat or text completion call for a tenant: the hex SHA-256 of the call type,
// the model asked for, the tenant and the canonical form of the request (see canonical). It fails only on a
// request that cannot be encoded.
func Key(c *pipeline.Call, tenant string) (string, error) {
	body, err := requestJSON(c)
	if err != nil {
		return "", err
	}
	k := canonPool.Get().(*canon)
	defer k.release()
	if k.out, err = k.topLevel(keyHead(k.out[:0], c, tenant), body, excluded); err != nil {
		return "", err
	}
	sum := sha256.Sum256(k.out)
	return hex.EncodeToString(sum[:]), nil
}

// EmbeddingKeys returns one key per input of an embeddings call: the request without its input (model,
// encoding_format, dimensions, user, the members it passes through) and that one input. An answer for an
// input is then found whichever other inputs it was asked with.
func EmbeddingKeys(c *pipeline.Call, tenant string) ([]string, error) {
	if c.Embedding == nil {
		return nil, errors.New("cache: not an embeddings call")
	}
	body, err := requestJSON(c)
	if err != nil {
		return nil, err
	}
	buf := keyHead(make([]byte, 0, 256), c, tenant)
	buf, err = appendTopLevel(buf, body, func(name []byte) bool { return excluded(name) || string(name) == "input" })
	if err != nil {
		return nil, err
	}
	base := sha256.Sum256(buf)
	in := c.Embedding.Input
	keys := make([]string, 0, in.Len())
	item := make([]byte, 0, 256)
	for _, text := range in.Texts {
		item = appendString(append(item[:0], base[:]...), []byte(text))
		sum := sha256.Sum256(item)
		keys = append(keys, hex.EncodeToString(sum[:]))
	}
	for _, toks := range in.Tokens {
		item = append(append(item[:0], base[:]...), '[')
		for _, t := range toks {
			item = appendNumber(item, strconv.AppendInt(nil, int64(t), 10))
		}
		item = append(item, ']')
		sum := sha256.Sum256(item)
		keys = append(keys, hex.EncodeToString(sum[:]))
	}
	return keys, nil
}

// keyHead starts a key's canonical bytes: the version, the call type, the model and the tenant, each with its
// length, so that no two distinct heads run together alike.
func keyHead(buf []byte, c *pipeline.Call, tenant string) []byte {
	buf = append(buf, keyVersion...)
	buf = append(buf, byte(c.Type))
	buf = appendString(buf, []byte(c.Model))
	return appendString(buf, []byte(tenant))
}

// requestJSON returns the request as JSON: the body as the client sent it when the request still matches it,
// else the typed request encoded (in-process callers, or a request a stage changed).
func requestJSON(c *pipeline.Call) ([]byte, error) {
	switch {
	case c.Chat != nil:
		if c.Chat.Raw != nil {
			return c.Chat.Raw, nil
		}
		return json.Marshal(c.Chat)
	case c.Completion != nil:
		if c.Completion.Raw != nil {
			return c.Completion.Raw, nil
		}
		return json.Marshal(c.Completion)
	case c.Embedding != nil:
		if c.Embedding.Raw != nil {
			return c.Embedding.Raw, nil
		}
		return json.Marshal(c.Embedding)
	}
	return nil, errors.New("cache: the call has no request")
}

// The canonical form hashed for a key is a self-delimiting encoding of the JSON value in which equal values
// are equal bytes: object members sorted by key (the last of duplicates kept, as encoding/json does), strings
// unescaped and length-prefixed, numbers spelled one way (integers as written; other numbers as the shortest
// float64 spelling, integral ones as integers), whitespace gone. Arrays keep their order: messages, tools and
// stop sequences are ordered.
const (
	tagObject, tagObjectEnd = '{', '}'
	tagArray, tagArrayEnd   = '[', ']'
	tagString, tagNumber    = 's', 'n'
	tagTrue, tagFalse       = 't', 'f'
	tagNull                 = 'z'
)

var errSyntax = errors.New("cache: malformed JSON")

// appendTopLevel appends the canonical form of a JSON object, leaving out the members skip names.
func appendTopLevel(dst, obj []byte, skip func(name []byte) bool) ([]byte, error) {
	k := canonPool.Get().(*canon)
	defer k.release()
	return k.topLevel(dst, obj, skip)
}

// topLevel is appendTopLevel with this working memory.
func (k *canon) topLevel(dst, obj []byte, skip func(name []byte) bool) ([]byte, error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, errSyntax
	}
	out, j, err := k.object(dst, obj, i, skip)
	if err != nil {
		return nil, err
	}
	if skipSpace(obj, j) != len(obj) {
		return nil, errSyntax
	}
	return out, nil
}

// canon is the working memory of one canonical encoding, reused across requests: the members of the objects
// being encoded (each object's after its parent's), room to reorder an object's members, and the bytes Key
// hashes.
type canon struct {
	members      []member
	scratch, out []byte
}

// member is an object member already encoded: its key's text and where its canonical form (key, then value)
// lies in the output.
type member struct {
	key        []byte
	start, end int
}

var canonPool = sync.Pool{New: func() any { return new(canon) }}

// canonKeep bounds the buffers a pooled canon keeps, so that one huge request does not pin its size.
const canonKeep = 64 << 10

func (k *canon) release() {
	if cap(k.scratch) > canonKeep {
		k.scratch = nil
	}
	if cap(k.out) > canonKeep {
		k.out = nil
	}
	clear(k.members[:cap(k.members)]) // drop references into the request
	k.members = k.members[:0]
	canonPool.Put(k)
}

// value appends the canonical form of the value at in[i:] and returns the index after it.
func (k *canon) value(dst, in []byte, i int) ([]byte, int, error) {
	i = skipSpace(in, i)
	if i >= len(in) {
		return nil, 0, errSyntax
	}
	switch c := in[i]; {
	case c == '{':
		return k.object(dst, in, i, nil)
	case c == '[':
		dst = append(dst, tagArray)
		i = skipSpace(in, i+1)
		if i < len(in) && in[i] == ']' {
			return append(dst, tagArrayEnd), i + 1, nil
		}
		for {
			var err error
			if dst, i, err = k.value(dst, in, i); err != nil {
				return nil, 0, err
			}
			i = skipSpace(in, i)
			if i >= len(in) {
				return nil, 0, errSyntax
			}
			if in[i] == ']' {
				return append(dst, tagArrayEnd), i + 1, nil
			}
			if in[i] != ',' {
				return nil, 0, errSyntax
			}
			i++
		}
	case c == '"':
		s, j, err := readString(in, i)
		if err != nil {
			return nil, 0, err
		}
		return appendString(dst, s), j, nil
	case c == 't' && bytes.HasPrefix(in[i:], []byte("true")):
		return append(dst, tagTrue), i + 4, nil
	case c == 'f' && bytes.HasPrefix(in[i:], []byte("false")):
		return append(dst, tagFalse), i + 5, nil
	case c == 'n' && bytes.HasPrefix(in[i:], []byte("null")):
		return append(dst, tagNull), i + 4, nil
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(in) && (in[j] >= '0' && in[j] <= '9' || in[j] == '.' || in[j] == 'e' || in[j] == 'E' ||
			in[j] == '+' || in[j] == '-') {
			j++
		}
		return appendNumber(dst, canonicalNumber(in[i:j])), j, nil
	}
	return nil, 0, errSyntax
}

// object appends the canonical form of the object at in[i] (which is '{'), members sorted. Members are encoded
// in place as they come; only an object whose keys are not already in strict order is rewritten, from a copy.
func (k *canon) object(dst, in []byte, i int, skip func(name []byte) bool) ([]byte, int, error) {
	dst = append(dst, tagObject)
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == '}' {
		return append(dst, tagObjectEnd), i + 1, nil
	}
	base, from := len(k.members), len(dst)
	for {
		i = skipSpace(in, i)
		if i >= len(in) || in[i] != '"' {
			return nil, 0, errSyntax
		}
		key, j, err := readString(in, i)
		if err != nil {
			return nil, 0, err
		}
		j = skipSpace(in, j)
		if j >= len(in) || in[j] != ':' {
			return nil, 0, errSyntax
		}
		start := len(dst)
		if dst, i, err = k.value(appendString(dst, key), in, j+1); err != nil {
			return nil, 0, err
		}
		if skip != nil && skip(key) {
			dst = dst[:start]
		} else {
			k.members = append(k.members, member{key, start, len(dst)})
		}
		i = skipSpace(in, i)
		if i >= len(in) {
			return nil, 0, errSyntax
		}
		if in[i] == '}' {
			i++
			break
		}
		if in[i] != ',' {
			return nil, 0, errSyntax
		}
		i++
	}
	ms := k.members[base:]
	for x := 1; x < len(ms); x++ {
		if bytes.Compare(ms[x-1].key, ms[x].key) >= 0 {
			dst = k.reorder(dst, from, ms)
			break
		}
	}
	k.members = k.members[:base]
	return append(dst, tagObjectEnd), i, nil
}

// reorder rewrites the members of an object, encoded from dst[from:], sorted by key; of members with one key,
// the last counts, as with encoding/json.
func (k *canon) reorder(dst []byte, from int, ms []member) []byte {
	k.scratch = append(k.scratch[:0], dst[from:]...)
	slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	dst = dst[:from]
	for x, m := range ms {
		if x+1 < len(ms) && bytes.Equal(ms[x+1].key, m.key) {
			continue
		}
		dst = append(dst, k.scratch[m.start-from:m.end-from]...)
	}
	return dst
}

// readString returns the text of the JSON string at in[i] (which is '"') and the index after it.
func readString(in []byte, i int) ([]byte, int, error) {
	escaped := false
	for j := i + 1; j < len(in); j++ {
		switch in[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped {
				return in[i+1 : j], j + 1, nil
			}
			var s string
			if err := json.Unmarshal(in[i:j+1], &s); err != nil {
				return nil, 0, errSyntax
			}
			return []byte(s), j + 1, nil
		}
	}
	return nil, 0, errSyntax
}

func appendString(dst, s []byte) []byte {
	dst = append(dst, tagString)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendNumber(dst, n []byte) []byte {
	dst = append(dst, tagNumber)
	dst = binary.AppendUvarint(dst, uint64(len(n)))
	return append(dst, n...)
}

// canonicalNumber spells a number one way: integers as written (so that large ones such as seeds keep every
// digit), other numbers as the shortest float64 spelling, integral ones as integers (1.0 and 1e0 are 1).
func canonicalNumber(n []byte) []byte {
	if !bytes.ContainsAny(n, ".eE") {
		if string(n) == "-0" {
			return []byte("0")
		}
		return n
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return n
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(nil, int64(f), 10)
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
