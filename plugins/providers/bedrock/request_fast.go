package bedrock

import (
	"math"
	"strconv"

	"github.com/switchyard/gateway/sdk"
)

// appendConverseFast appends the JSON encoding/json.Marshal writes for r (its members but Passthrough) when r has
// the usual shape: text and cache points in the messages and the system prompt, and the inference settings. It
// reports false for anything else (images, documents, tools, model-specific fields, a float JSON cannot hold),
// and the caller then uses encoding/json. TestAppendConverseFastMatchesEncodingJSON and
// FuzzAppendConverseFast hold the two to the same bytes. encoding/json was about 1.5 µs of a Bedrock request.
func appendConverseFast(b []byte, r *converseRequest) ([]byte, bool) {
	if r.ToolConfig != nil || len(r.AdditionalModelRequestFields) > 0 {
		return b, false
	}
	b = append(b, `{"messages":`...)
	if r.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Messages {
			m := &r.Messages[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = sdk.AppendJSONString(append(b, `{"role":`...), m.Role)
			b = append(b, `,"content":`...)
			if m.Content == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, '[')
				for j := range m.Content {
					c := &m.Content[j]
					if c.Image != nil || c.Document != nil || c.ToolUse != nil || c.ToolResult != nil {
						return b, false
					}
					if j > 0 {
						b = append(b, ',')
					}
					b = appendTextBlock(b, c.Text, c.CachePoint)
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.System) > 0 {
		b = append(b, `,"system":[`...)
		for i := range r.System {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTextBlock(b, r.System[i].Text, r.System[i].CachePoint)
		}
		b = append(b, ']')
	}
	if c := r.InferenceConfig; c != nil {
		b = append(b, `,"inferenceConfig":{`...)
		first := true
		member := func(name string) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(append(append(b, '"'), name...), `":`...)
		}
		if c.MaxTokens != nil {
			member("maxTokens")
			b = strconv.AppendInt(b, int64(*c.MaxTokens), 10)
		}
		ok := true
		if c.Temperature != nil {
			member("temperature")
			b, ok = appendJSONFloat(b, *c.Temperature)
		}
		if c.TopP != nil && ok {
			member("topP")
			b, ok = appendJSONFloat(b, *c.TopP)
		}
		if !ok {
			return b, false
		}
		if len(c.StopSequences) > 0 {
			member("stopSequences")
			b = append(b, '[')
			for i, s := range c.StopSequences {
				if i > 0 {
					b = append(b, ',')
				}
				b = sdk.AppendJSONString(b, s)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// sizeHint is about the length of r's JSON when it takes the fast path: its texts and some room for the rest.
func (r *converseRequest) sizeHint() int {
	n := 160
	for i := range r.Messages {
		n += 32
		for j := range r.Messages[i].Content {
			n += 16 + len(r.Messages[i].Content[j].Text)
		}
	}
	for i := range r.System {
		n += 16 + len(r.System[i].Text)
	}
	return n
}

// appendTextBlock appends a content or system block holding text, a cache point, both or neither.
func appendTextBlock(b []byte, text string, cp *cachePoint) []byte {
	b = append(b, '{')
	if text != "" {
		b = sdk.AppendJSONString(append(b, `"text":`...), text)
	}
	if cp != nil {
		if text != "" {
			b = append(b, ',')
		}
		b = append(sdk.AppendJSONString(append(b, `"cachePoint":{"type":`...), cp.Type), '}')
	}
	return append(b, '}')
}

// appendJSONFloat appends f as encoding/json writes a float64; false for NaN and infinities, which it refuses.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b, true
}
