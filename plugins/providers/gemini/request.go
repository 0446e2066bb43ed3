package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Codec converts between the unified, OpenAI-shaped API and Gemini's GenerateContent wire format. It is shared
// by the Google AI Studio and Vertex AI providers (see the package documentation) and holds no per-request
// state; the zero value is ready to use.
type Codec struct {
	// Now stamps answers (the created field); nil means time.Now.
	Now func() time.Time
	// NewID names an answer the upstream gave no responseId; nil means a random "chatcmpl-" id.
	NewID func() string
}

// signatureSep joins a tool call id and the thought signature Gemini attached to the call. Gemini 3 refuses a
// conversation whose earlier function calls lost their signatures, and an OpenAI client keeps nothing of a tool
// call but its id, name and arguments, so the signature travels in the id and is split off again when the
// conversation comes back.
const signatureSep = "__thought__"

// skipSignature is the placeholder Google documents for function calls that have no signature (a conversation
// started with another model): Gemini 3 accepts it instead of refusing the request.
const skipSignature = "skip_thought_signature_validator"

// chatDefaults are the chat parameters a deployment's litellm_params may give defaults for.
var chatDefaults = []string{"temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens",
	"presence_penalty", "frequency_penalty", "seed", "reasoning_effort", "response_format", "tool_choice",
	"top_k", "safety_settings", "thinking"}

// Request returns the GenerateContentRequest body for a chat request to the model t.Model. Parameters Gemini
// cannot honour (logit_bias, logprobs, top_logprobs) are refused with a 400 unless t.DropParams is set; user and
// parallel_tool_calls are ignored, as Gemini has no such knobs. Of the members OpenAI does not define, top_k,
// safety_settings (or safetySettings), cached_content (or cachedContent) and thinking ({"type":"enabled",
// "budget_tokens":N}) are understood; others are not sent.
func (c Codec) Request(t *sdk.Target, req *sdk.ChatRequest) ([]byte, error) {
	r, err := effective(t, req)
	if err != nil {
		return nil, err
	}
	if len(r.LogitBias) > 0 {
		if !t.DropParams {
			return nil, unsupported("logit_bias")
		}
	}
	if (r.Logprobs != nil && *r.Logprobs) || r.TopLogprobs != nil {
		if !t.DropParams {
			if r.Logprobs != nil && *r.Logprobs {
				return nil, unsupported("logprobs")
			}
			return nil, unsupported("top_logprobs")
		}
	}

	var out generateContentRequest
	sys, contents, err := convertMessages(t.Model, r.Messages)
	if err != nil {
		return nil, err
	}
	out.Contents = contents
	if sys != nil {
		if strings.HasPrefix(strings.ToLower(baseModel(t.Model)), "gemma") {
			// Gemma models refuse systemInstruction ("Developer instruction is not enabled"): the system prompt
			// leads the first user turn instead.
			prependSystem(&out, sys)
		} else {
			out.SystemInstruction = sys
		}
	}
	if out.Contents == nil {
		out.Contents = []content{}
	}

	if err := convertTools(&out, r.Tools, r.ToolChoice); err != nil {
		return nil, err
	}
	gc, err := generation(t, r)
	if err != nil {
		return nil, err
	}
	out.GenerationConfig = gc

	if v := r.Extra["safety_settings"]; v != nil {
		out.SafetySettings = v
	} else if v := r.Extra["safetySettings"]; v != nil {
		out.SafetySettings = v
	}
	for _, name := range []string{"cached_content", "cachedContent"} {
		if v := r.Extra[name]; v != nil {
			if err := json.Unmarshal(v, &out.CachedContent); err != nil {
				return nil, sdk.NewError(sdk.KindBadRequest, name+": must be a string (cachedContents/...)").WithParam(name)
			}
			break
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return nil, fmt.Errorf("encoding the gemini request: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// effective returns the request with the deployment's parameter defaults filled in and the parameters named by
// additional_drop_params removed. req is not changed.
func effective(t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatRequest, error) {
	r := *req
	defaults := map[string]any{}
	for _, name := range chatDefaults {
		if v, ok := t.Params[name]; ok && v != nil {
			defaults[name] = v
		}
	}
	if len(defaults) > 0 {
		b, err := json.Marshal(defaults)
		if err != nil {
			return nil, fmt.Errorf("litellm_params: %w", err)
		}
		var d sdk.ChatRequest
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("litellm_params: %w", err)
		}
		fill(&r.Temperature, d.Temperature)
		fill(&r.TopP, d.TopP)
		fill(&r.N, d.N)
		if r.MaxTokens == nil && r.MaxCompletionTokens == nil { // one limit, under either name
			r.MaxTokens, r.MaxCompletionTokens = d.MaxTokens, d.MaxCompletionTokens
		}
		fill(&r.PresencePenalty, d.PresencePenalty)
		fill(&r.FrequencyPenalty, d.FrequencyPenalty)
		fill(&r.Seed, d.Seed)
		fill(&r.ResponseFormat, d.ResponseFormat)
		fill(&r.ToolChoice, d.ToolChoice)
		if r.Stop == nil {
			r.Stop = d.Stop
		}
		if r.ReasoningEffort == "" {
			r.ReasoningEffort = d.ReasoningEffort
		}
		if len(d.Extra) > 0 {
			extra := make(map[string]json.RawMessage, len(r.Extra)+len(d.Extra))
			for k, v := range d.Extra {
				extra[k] = v
			}
			for k, v := range r.Extra {
				extra[k] = v
			}
			r.Extra = extra
		}
	}
	for _, p := range t.AdditionalDropParams {
		switch p {
		case "temperature":
			r.Temperature = nil
		case "top_p":
			r.TopP = nil
		case "n":
			r.N = nil
		case "stop":
			r.Stop = nil
		case "max_tokens":
			r.MaxTokens = nil
		case "max_completion_tokens":
			r.MaxCompletionTokens = nil
		case "presence_penalty":
			r.PresencePenalty = nil
		case "frequency_penalty":
			r.FrequencyPenalty = nil
		case "seed":
			r.Seed = nil
		case "logit_bias":
			r.LogitBias = nil
		case "logprobs":
			r.Logprobs = nil
		case "top_logprobs":
			r.TopLogprobs = nil
		case "response_format":
			r.ResponseFormat = nil
		case "reasoning_effort":
			r.ReasoningEffort = ""
		case "tools":
			r.Tools = nil
		case "tool_choice":
			r.ToolChoice = nil
		default:
			if _, ok := r.Extra[p]; ok {
				extra := make(map[string]json.RawMessage, len(r.Extra))
				for k, v := range r.Extra {
					if k != p {
						extra[k] = v
					}
				}
				r.Extra = extra
			}
		}
	}
	return &r, nil
}

func fill[T any](dst **T, def *T) {
	if *dst == nil {
		*dst = def
	}
}

// baseModel returns the model name without a collection prefix ("models/", "tunedModels/").
func baseModel(model string) string { return model[strings.LastIndex(model, "/")+1:] }

// convertMessages turns the conversation into Gemini contents: system and developer messages become the system
// instruction, assistant turns "model" contents, tool results "user" contents with functionResponse parts.
// Consecutive contents of one role are merged, which puts the answers to parallel calls in one turn, as Gemini
// requires.
func convertMessages(model string, msgs []sdk.Message) (*content, []content, error) {
	var sys *content
	var out []content
	add := func(role string, parts []part) {
		if len(parts) == 0 {
			return
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Parts = append(out[n-1].Parts, parts...)
			return
		}
		out = append(out, content{Role: role, Parts: parts})
	}
	signatures := ThinkingFamily(model) == ThinkingLevel
	for i := range msgs {
		m := &msgs[i]
		at := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			if text := m.Content.String(); text != "" {
				if sys == nil {
					sys = &content{}
				}
				sys.Parts = append(sys.Parts, part{Text: text})
			}
		case "user":
			parts, err := userParts(m.Content, at)
			if err != nil {
				return nil, nil, err
			}
			add("user", parts)
		case "assistant":
			var parts []part
			if text := m.Content.String(); text != "" {
				parts = append(parts, part{Text: text})
			}
			for j, tc := range m.ToolCalls {
				args, err := callArgs(tc.Function.Arguments)
				if err != nil {
					return nil, nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.tool_calls[%d].function.arguments: "+
						"not a JSON object", at, j)).WithParam(fmt.Sprintf("%s.tool_calls[%d].function.arguments", at, j))
				}
				p := part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: args}}
				if _, sig, ok := strings.Cut(tc.ID, signatureSep); ok {
					p.ThoughtSignature = sig
				} else if signatures && j == 0 {
					p.ThoughtSignature = skipSignature
				}
				parts = append(parts, p)
			}
			add("model", parts)
		case "tool", "function":
			name := m.Name
			if m.Role == "tool" {
				if n := callName(msgs[:i], m.ToolCallID); n != "" {
					name = n
				}
			}
			if name == "" {
				return nil, nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.tool_call_id: %q matches no tool call of "+
					"an earlier assistant message, and Gemini needs the function's name", at, m.ToolCallID)).
					WithParam(at + ".tool_call_id")
			}
			add("user", []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResult(m.Content.String())}}})
		}
	}
	return sys, out, nil
}

// callName returns the function name of the latest tool call with the given id.
func callName(earlier []sdk.Message, id string) string {
	if id == "" {
		return ""
	}
	for i := len(earlier) - 1; i >= 0; i-- {
		for _, tc := range earlier[i].ToolCalls {
			if tc.ID == id {
				return tc.Function.Name
			}
		}
	}
	return ""
}

// callArgs returns a tool call's arguments as a JSON object ("" meaning none).
func callArgs(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// toolResult returns a tool's answer as a functionResponse response: the answer itself when it is a JSON
// object, else {"content": answer}.
func toolResult(s string) json.RawMessage {
	if trimmed := strings.TrimSpace(s); strings.HasPrefix(trimmed, "{") {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(trimmed)) == nil {
			return buf.Bytes()
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"content": s}) // a string map always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
}

// prependSystem puts the system instruction's text at the start of the first user content.
func prependSystem(out *generateContentRequest, sys *content) {
	for i := range out.Contents {
		if out.Contents[i].Role == "user" {
			out.Contents[i].Parts = append(append([]part{}, sys.Parts...), out.Contents[i].Parts...)
			return
		}
	}
	out.Contents = append([]content{{Role: "user", Parts: sys.Parts}}, out.Contents...)
}

// userParts converts a user message's content.
func userParts(c sdk.Content, at string) ([]part, error) {
	if !c.IsParts {
		if c.Text == "" {
			return nil, nil
		}
		return []part{{Text: c.Text}}, nil
	}
	var parts []part
	for j, p := range c.Parts {
		where := fmt.Sprintf("%s.content[%d]", at, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				parts = append(parts, part{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, sdk.NewError(sdk.KindBadRequest, where+".image_url: required").WithParam(where + ".image_url")
			}
			ip, err := mediaPart(p.ImageURL.URL, p.ImageURL.Format, where+".image_url.url", true)
			if err != nil {
				return nil, err
			}
			parts = append(parts, ip)
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return nil, sdk.NewError(sdk.KindBadRequest, where+".input_audio.data: required").WithParam(where + ".input_audio")
			}
			parts = append(parts, part{InlineData: &blob{MimeType: audioMime(p.InputAudio.Format), Data: p.InputAudio.Data}})
		case "file":
			if p.File == nil {
				return nil, sdk.NewError(sdk.KindBadRequest, where+".file: required").WithParam(where + ".file")
			}
			switch {
			case p.File.FileData != "":
				fp, err := mediaPart(p.File.FileData, mimeFromName(p.File.Filename), where+".file.file_data", false)
				if err != nil {
					return nil, err
				}
				parts = append(parts, fp)
			case p.File.FileID != "":
				parts = append(parts, part{FileData: &fileData{FileURI: p.File.FileID, MimeType: mimeFromName(p.File.Filename)}})
			default:
				return nil, sdk.NewError(sdk.KindBadRequest, where+".file: needs file_data or file_id").WithParam(where + ".file")
			}
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.type: %q is not supported by gemini", where, p.Type)).
				WithParam(where + ".type")
		}
	}
	return parts, nil
}

// filesPrefix starts the URIs of files uploaded with the Gemini Files API, which requests name rather than send.
const filesPrefix = "https://generativelanguage.googleapis.com/"

// mediaPart converts an image or file reference: a data: URL becomes inline bytes; a gs:// URI or a Files API
// URI a fileData reference. Other URLs must have been fetched by the gateway (Capabilities.FetchImages) before
// they get here; if one has not, the request is refused rather than sent to fail upstream.
func mediaPart(u, format, param string, image bool) (part, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		mt, data, err := decodeDataURL(u)
		if err != nil {
			return part{}, sdk.NewError(sdk.KindBadRequest, param+": "+err.Error()).WithParam(param)
		}
		if mt == "" {
			mt = format
		}
		if mt == "" {
			return part{}, sdk.NewError(sdk.KindBadRequest, param+": the data: URL names no media type").WithParam(param)
		}
		return part{InlineData: &blob{MimeType: mt, Data: data}}, nil
	case strings.HasPrefix(u, "gs://"), strings.HasPrefix(u, filesPrefix):
		if format == "" {
			format = mimeFromName(u)
		}
		return part{FileData: &fileData{FileURI: u, MimeType: format}}, nil
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		what := "file"
		if image {
			what = "image"
		}
		return part{}, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s: gemini takes %s bytes, not http(s) URLs, and "+
			"this one was not fetched by the gateway; send it as a data: URL (data:<mime>;base64,...)", param, what)).
			WithParam(param).WithCode("invalid_image_url")
	}
	return part{}, sdk.NewError(sdk.KindBadRequest, param+": must be a data: URL, a gs:// URI or a Gemini file URI").
		WithParam(param)
}

// decodeDataURL returns the media type and base64 payload of a data: URL, re-encoding a percent-encoded one.
func decodeDataURL(u string) (mediaType, b64 string, err error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok {
		return "", "", fmt.Errorf("malformed data: URL")
	}
	params := strings.Split(meta, ";")
	mediaType = strings.TrimSpace(params[0])
	isB64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			isB64 = true
		}
	}
	if isB64 {
		return mediaType, strings.TrimSpace(payload), nil
	}
	raw, err := url.PathUnescape(payload)
	if err != nil {
		return "", "", fmt.Errorf("malformed data: URL: %w", err)
	}
	return mediaType, base64.StdEncoding.EncodeToString([]byte(raw)), nil
}

// mimeFromName guesses a media type from a file name or URL's extension ("" when unknown).
func mimeFromName(name string) string {
	if name == "" {
		return ""
	}
	if u, err := url.Parse(name); err == nil && u.Path != "" {
		name = u.Path
	}
	mt := mime.TypeByExtension(strings.ToLower(path.Ext(name)))
	mt, _, _ = strings.Cut(mt, ";")
	return mt
}

// audioMime returns the media type of an input_audio format ("wav", "mp3", ...).
func audioMime(format string) string {
	switch f := strings.ToLower(format); f {
	case "":
		return "audio/wav"
	case "mp3", "mpeg":
		return "audio/mp3"
	default:
		if strings.Contains(f, "/") {
			return f
		}
		return "audio/" + f
	}
}

// convertTools declares the function tools and maps tool_choice to functionCallingConfig.
func convertTools(out *generateContentRequest, tools []sdk.Tool, choice *sdk.ToolChoice) error {
	if len(tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(tools))
	for i, tl := range tools {
		at := fmt.Sprintf("tools[%d]", i)
		if tl.Type != "" && tl.Type != "function" {
			return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.type: gemini takes function tools only, not %q", at,
				tl.Type)).WithParam(at + ".type")
		}
		if tl.Function.Name == "" {
			return sdk.NewError(sdk.KindBadRequest, at+".function.name: required").WithParam(at + ".function.name")
		}
		d := functionDeclaration{Name: tl.Function.Name, Description: tl.Function.Description}
		if p := bytes.TrimSpace(tl.Function.Parameters); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
			s, err := cleanSchema(p)
			if err != nil {
				return sdk.NewError(sdk.KindBadRequest, at+".function.parameters: "+err.Error()).
					WithParam(at + ".function.parameters")
			}
			// A function without parameters is declared without a schema: Gemini refuses an OBJECT schema with
			// no properties.
			if props, _ := s["properties"].(map[string]any); len(props) > 0 || s["type"] != "OBJECT" {
				b, err := marshal(s)
				if err != nil {
					return err
				}
				d.Parameters = b
			}
		}
		decls = append(decls, d)
	}
	out.Tools = []toolSet{{FunctionDeclarations: decls}}
	if choice == nil {
		return nil
	}
	fc := functionCallingConfig{}
	switch choice.Mode {
	case "auto":
		fc.Mode = "AUTO"
	case "none":
		fc.Mode = "NONE"
	case "required":
		fc.Mode = "ANY"
	case "function":
		fc.Mode, fc.AllowedFunctionNames = "ANY", []string{choice.Function}
	default:
		return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tool_choice: %q is not one of auto, none, required or a "+
			"function", choice.Mode)).WithParam("tool_choice")
	}
	out.ToolConfig = &toolConfig{FunctionCallingConfig: fc}
	return nil
}

// generation returns the generationConfig of a request, or nil when it sets nothing.
func generation(t *sdk.Target, r *sdk.ChatRequest) (*generationConfig, error) {
	gc := &generationConfig{
		Temperature:      r.Temperature,
		TopP:             r.TopP,
		PresencePenalty:  r.PresencePenalty,
		FrequencyPenalty: r.FrequencyPenalty,
		StopSequences:    r.Stop,
	}
	if r.N != nil && *r.N > 1 {
		gc.CandidateCount = *r.N
	}
	switch {
	case r.MaxCompletionTokens != nil:
		gc.MaxOutputTokens = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		gc.MaxOutputTokens = *r.MaxTokens
	}
	if r.Seed != nil {
		if *r.Seed < math.MinInt32 || *r.Seed > math.MaxInt32 {
			return nil, sdk.NewError(sdk.KindBadRequest, "seed: gemini takes a 32-bit seed").WithParam("seed")
		}
		s := int32(*r.Seed)
		gc.Seed = &s
	}
	if v := r.Extra["top_k"]; v != nil {
		var k float64
		if err := json.Unmarshal(v, &k); err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, "top_k: must be a number").WithParam("top_k")
		}
		gc.TopK = &k
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			if rf.JSONSchema != nil {
				if s := bytes.TrimSpace(rf.JSONSchema.Schema); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
					cleaned, err := CleanSchema(s)
					if err != nil {
						return nil, sdk.NewError(sdk.KindBadRequest, "response_format.json_schema.schema: "+err.Error()).
							WithParam("response_format.json_schema.schema")
					}
					gc.ResponseSchema = cleaned
				}
			}
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("response_format.type: %q is not one of text, "+
				"json_object, json_schema", rf.Type)).WithParam("response_format.type")
		}
	}
	tc, err := thinking(t, r)
	if err != nil {
		return nil, err
	}
	gc.ThinkingConfig = tc
	if gc.Temperature == nil && gc.TopP == nil && gc.TopK == nil && gc.PresencePenalty == nil &&
		gc.FrequencyPenalty == nil && gc.StopSequences == nil && gc.CandidateCount == 0 && gc.MaxOutputTokens == 0 &&
		gc.Seed == nil && gc.ResponseMimeType == "" && gc.ThinkingConfig == nil {
		return nil, nil
	}
	return gc, nil
}

// Thinking is how a model's thinking is configured.
type Thinking uint8

const (
	// ThinkingBudget models (Gemini 2.5) take thinkingConfig.thinkingBudget, in tokens.
	ThinkingBudget Thinking = iota
	// ThinkingLevel models (Gemini 3 and later) take thinkingConfig.thinkingLevel.
	ThinkingLevel
	// ThinkingNone models (Gemini 1.x and 2.0, Gemma) do not think, and refuse a thinkingConfig.
	ThinkingNone
)

var geminiVersion = regexp.MustCompile(`gemini-(\d+)(?:\.(\d+))?`)

// ThinkingFamily returns how a model's thinking is configured, from its name. Names without a version (aliases
// such as "gemini-flash-latest") are taken for budget models, a knob every current model accepts.
func ThinkingFamily(model string) Thinking {
	m := strings.ToLower(baseModel(model))
	if strings.HasPrefix(m, "gemma") {
		return ThinkingNone
	}
	v := geminiVersion.FindStringSubmatch(m)
	if v == nil {
		return ThinkingBudget
	}
	major, _ := strconv.Atoi(v[1])
	minor, _ := strconv.Atoi(v[2])
	switch {
	case major >= 3:
		return ThinkingLevel
	case major == 2 && minor >= 5:
		return ThinkingBudget
	}
	return ThinkingNone
}

// Thinking budgets by reasoning_effort for budget models, as LiteLLM sets them.
var effortBudget = map[string]int{"minimal": 512, "low": 1024, "medium": 2048, "high": 4096}

// thinking returns the thinkingConfig for reasoning_effort (or an Anthropic-style thinking member), or nil.
// Thoughts are asked for (includeThoughts) whenever thinking is on, so that they come back as
// reasoning_content.
func thinking(t *sdk.Target, r *sdk.ChatRequest) (*thinkingConfig, error) {
	family := ThinkingFamily(t.Model)
	effort := strings.ToLower(r.ReasoningEffort)
	var tc *thinkingConfig
	if effort != "" {
		switch effort {
		case "none", "minimal", "low", "medium", "high":
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("reasoning_effort: %q is not one of none, minimal, "+
				"low, medium, high", r.ReasoningEffort)).WithParam("reasoning_effort")
		}
		switch family {
		case ThinkingNone:
			if effort != "none" && !t.DropParams {
				return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("reasoning_effort: %s does not think; remove it, "+
					"or set drop_params: true to drop it automatically", t.Model)).WithParam("reasoning_effort").
					WithCode("unsupported_params")
			}
		case ThinkingLevel:
			tc = &thinkingConfig{IncludeThoughts: effort != "none", ThinkingLevel: thinkingLevel(t.Model, effort)}
		default:
			budget, pro := effortBudget[effort], strings.Contains(strings.ToLower(t.Model), "pro")
			switch {
			case effort == "none" && pro, effort == "minimal" && pro:
				budget = 128 // 2.5 Pro cannot stop thinking; 128 is its least budget
			case effort == "none":
				budget = 0
			}
			tc = &thinkingConfig{IncludeThoughts: effort != "none", ThinkingBudget: &budget}
		}
	}
	if v := r.Extra["thinking"]; v != nil && family != ThinkingNone {
		var th struct {
			Type         string `json:"type"`
			BudgetTokens *int   `json:"budget_tokens"`
		}
		if err := json.Unmarshal(v, &th); err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, `thinking: must be {"type":"enabled","budget_tokens":N} or `+
				`{"type":"disabled"}`).WithParam("thinking")
		}
		switch th.Type {
		case "enabled":
			tc = &thinkingConfig{IncludeThoughts: true, ThinkingBudget: th.BudgetTokens}
		case "disabled":
			zero := 0
			tc = &thinkingConfig{ThinkingBudget: &zero}
		}
	}
	return tc, nil
}

// thinkingLevel maps an effort to a Gemini 3 thinking level: Flash models take minimal to high, Pro models low
// and high only; thinking cannot be switched off.
func thinkingLevel(model, effort string) string {
	if strings.Contains(strings.ToLower(model), "flash") {
		if effort == "none" {
			return "minimal"
		}
		return effort
	}
	switch effort {
	case "medium", "high":
		return "high"
	}
	return "low"
}

// marshal encodes v without HTML escaping.
func marshal(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
