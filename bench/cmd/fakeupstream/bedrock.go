package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// converseReplay serves POST /model/{modelId}/converse and /model/{modelId}/converse-stream, Amazon Bedrock's
// Converse API, the way messagesReplay serves Anthropic's Messages API: the first request of each shape (model,
// stream) is answered by plugins/providers/bedrock/bedrockfake, which checks it as the real service does (its
// SigV4 signature recomputed with the known secret, the body), and the answer is recorded and replayed
// afterwards. The fake echoes the prompt in two text deltas; so that every path of the gateway carries the same
// payload, the recorded answer's text is replaced by the benchmark's answer, cut into as many contentBlockDelta
// events as the OpenAI fake sends content chunks, each the fake's own delta event with another text, in the
// binary event stream framing. The usage is the fake's, the same in a plain answer and a stream's metadata.
//
// Recomputing a signature costs the fake more than answering, so a replayed request is checked more cheaply:
// it must carry an AWS4-HMAC-SHA256 Authorization header with the right access key id, region and service, for
// the day of its X-Amz-Date, and a signature. Every other request (unsigned or signed for someone else, tools,
// reasoning, other shapes) goes to bedrockfake through fasthttpadaptor, which refuses or answers it exactly.
type converseReplay struct {
	fake     http.Handler
	fallback fasthttp.RequestHandler
	// credential is how a replayed request's Authorization header must start, "AWS4-HMAC-SHA256
	// Credential=<access key id>/", and scope how its credential must end, "/<region>/bedrock/aws4_request";
	// both nil when the fake takes requests without credentials.
	credential, scope []byte
	answer            string
	chunks            int
	answers           sync.Map // converseShape → *recorded
}

type converseShape struct {
	model  string // as escaped in the path
	stream bool
}

var (
	modelPrefix         = []byte("/model/")
	signaturePrefix     = []byte(", Signature=")
	truncatingMaxTokens = []byte(strconv.Itoa(providertest.MaxTokensTruncate))
)

// newConverseReplay serves bedrockfake with the given credentials: with an access key id and secret, requests
// must be signed with them for the region (bedrockfake.DefaultRegion when empty).
func newConverseReplay(opts bedrockfake.Options, answer string, chunks int) *converseReplay {
	if opts.Region == "" {
		opts.Region = bedrockfake.DefaultRegion
	}
	fake := bedrockfake.New(opts)
	c := &converseReplay{fake: fake, fallback: fasthttpadaptor.NewFastHTTPHandler(fake), answer: answer,
		chunks: max(chunks, 1)}
	if opts.AccessKeyID != "" || opts.SecretAccessKey != "" {
		c.credential = []byte("AWS4-HMAC-SHA256 Credential=" + opts.AccessKeyID + "/")
		c.scope = []byte("/" + opts.Region + "/bedrock/aws4_request")
	}
	return c
}

// signed reports whether a request carries a signature of the expected credential and scope; it does not
// recompute the signature (the first request of each shape is checked in full by the fake).
func (c *converseReplay) signed(ctx *fasthttp.RequestCtx) bool {
	if c.credential == nil {
		return true
	}
	auth := ctx.Request.Header.Peek("Authorization")
	rest, ok := bytes.CutPrefix(auth, c.credential)
	if !ok {
		return false
	}
	// rest: "20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex digits>".
	date := ctx.Request.Header.Peek("X-Amz-Date")
	scope, _, _ := bytes.Cut(rest, []byte(","))
	sig := bytes.LastIndex(rest, signaturePrefix)
	return len(date) >= 8 && len(scope) == 8+len(c.scope) && bytes.Equal(scope[:8], date[:8]) &&
		bytes.Equal(scope[8:], c.scope) && sig >= 0 && len(rest)-sig-len(signaturePrefix) == 64
}

// shape reports whether the request is a plain text Converse request the replay can answer, and its shape:
// nothing in the body that changes what the fake answers but the text (tools, reasoning, structured output,
// stop sequences, the truncating max tokens).
func (c *converseReplay) shape(ctx *fasthttp.RequestCtx) (converseShape, bool) {
	rest, ok := bytes.CutPrefix(ctx.Request.URI().PathOriginal(), modelPrefix)
	if !ok || !ctx.IsPost() {
		return converseShape{}, false
	}
	model, op, _ := bytes.Cut(rest, []byte("/"))
	k := converseShape{model: string(model)}
	switch string(op) {
	case "converse":
	case "converse-stream":
		k.stream = true
	default:
		return converseShape{}, false
	}
	if len(model) == 0 || !c.signed(ctx) {
		return converseShape{}, false
	}
	body := ctx.PostBody()
	if rawjson.Get(body, "messages") == nil || rawjson.Get(body, "toolConfig") != nil ||
		rawjson.Get(body, "additionalModelRequestFields") != nil || rawjson.Get(body, "outputConfig") != nil {
		return converseShape{}, false
	}
	if ic := rawjson.Get(body, "inferenceConfig"); ic != nil &&
		(rawjson.Get(ic, "stopSequences") != nil || bytes.Equal(rawjson.Get(ic, "maxTokens"), truncatingMaxTokens)) {
		return converseShape{}, false
	}
	return k, true
}

// record returns the recorded answer of a shape, asking the fake the first time (with the request as it came,
// so that its signature is checked); nil when the fake did not answer 200 or answered something other than one
// text block.
func (c *converseReplay) record(ctx *fasthttp.RequestCtx, k converseShape) *recorded {
	if v, ok := c.answers.Load(k); ok {
		return v.(*recorded)
	}
	var req http.Request
	if err := fasthttpadaptor.ConvertRequest(ctx, &req, true); err != nil {
		return nil
	}
	w := httptest.NewRecorder()
	c.fake.ServeHTTP(w, &req)
	if w.Code != http.StatusOK {
		return nil
	}
	rec := &recorded{contentType: w.Header().Get("Content-Type")}
	var err error
	if k.stream {
		rec.events, err = c.rewriteStream(w.Body.Bytes())
	} else {
		rec.body, err = c.rewriteAnswer(w.Body.Bytes())
	}
	if err != nil {
		return nil
	}
	v, _ := c.answers.LoadOrStore(k, rec)
	return v.(*recorded)
}

// rewriteAnswer replaces the text of the fake's one-block answer by the benchmark's answer; the other members
// (stopReason, usage, metrics) are kept as they are.
func (c *converseReplay) rewriteAnswer(body []byte) ([]byte, error) {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("the fake's answer: %w", err)
	}
	var out struct {
		Message struct {
			Role    string                       `json:"role"`
			Content []map[string]json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if err := json.Unmarshal(a["output"], &out); err != nil {
		return nil, fmt.Errorf("the fake's answer's output: %w", err)
	}
	content := out.Message.Content
	if len(content) != 1 || len(content[0]) != 1 || content[0]["text"] == nil {
		return nil, fmt.Errorf("the fake's answer has %d blocks, not one text block", len(content))
	}
	content[0]["text"] = rawjson.String(c.answer)
	var err error
	if a["output"], err = json.Marshal(out); err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// rewriteStream splits the fake's event stream into messages and replaces its text deltas by the benchmark's
// answer in c.chunks deltas, each the fake's first text delta with another text. Every message is re-encoded
// on its own, so that each is written (and flushed) as one HTTP chunk, as the service sends them.
func (c *converseReplay) rewriteStream(body []byte) ([][]byte, error) {
	dec, enc := eventstream.NewDecoder(), eventstream.NewEncoder()
	var out [][]byte
	replaced, metadata := false, false
	for r := bytes.NewReader(body); r.Len() > 0; {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			return nil, fmt.Errorf("the fake's stream: %w", err)
		}
		if mt := headerString(msg.Headers, ":message-type"); mt != "event" {
			return nil, fmt.Errorf("the fake's stream has a message of type %q", mt)
		}
		switch typ := headerString(msg.Headers, ":event-type"); typ {
		case "contentBlockStart":
			return nil, fmt.Errorf("the fake's stream starts a block that is not text: %s", msg.Payload)
		case "contentBlockDelta":
			d, delta, err := textDelta(msg.Payload)
			if err != nil {
				return nil, err
			}
			if replaced {
				continue // the fake's second half of the text
			}
			for i, n := 0, len(c.answer); i < c.chunks; i++ {
				delta["text"] = c.answer[i*n/c.chunks : (i+1)*n/c.chunks]
				payload, err := json.Marshal(d)
				if err != nil {
					return nil, err
				}
				b, err := encodeMessage(enc, eventstream.Message{Headers: msg.Headers, Payload: payload})
				if err != nil {
					return nil, err
				}
				out = append(out, b)
			}
			replaced = true
			continue
		case "metadata":
			metadata = true
		}
		b, err := encodeMessage(enc, msg)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if !replaced || !metadata {
		return nil, fmt.Errorf("the fake's stream has no text delta or no metadata event")
	}
	return out, nil
}

// textDelta decodes a contentBlockDelta event's payload and returns it with its delta, which must be text.
func textDelta(payload []byte) (d, delta map[string]any, err error) {
	if err := json.Unmarshal(payload, &d); err != nil {
		return nil, nil, fmt.Errorf("a contentBlockDelta event: %w", err)
	}
	delta, _ = d["delta"].(map[string]any)
	if _, ok := delta["text"].(string); !ok || len(delta) != 1 {
		return nil, nil, fmt.Errorf("a delta that is not text: %s", payload)
	}
	return d, delta, nil
}

func headerString(hs eventstream.Headers, name string) string {
	s, _ := hs.Get(name).(eventstream.StringValue)
	return string(s)
}

func encodeMessage(enc *eventstream.Encoder, msg eventstream.Message) ([]byte, error) {
	var b bytes.Buffer
	if err := enc.Encode(&b, msg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// serve answers a Converse request; false when the request is not one (the caller handles it).
func (c *converseReplay) serve(ctx *fasthttp.RequestCtx, latency, chunkDelay time.Duration) bool {
	if !bytes.HasPrefix(ctx.Request.URI().PathOriginal(), modelPrefix) {
		return false
	}
	shape, ok := c.shape(ctx)
	var rec *recorded
	if ok {
		rec = c.record(ctx, shape)
	}
	if rec == nil {
		c.fallback(ctx)
		return true
	}
	writeRecorded(ctx, rec, latency, chunkDelay)
	return true
}
