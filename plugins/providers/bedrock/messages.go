package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// convertMessages turns OpenAI messages into Converse system blocks and messages. Converse takes the system
// prompt apart, tool results in user messages, and strictly alternating roles, so consecutive messages of one
// Converse role (tool results followed by a user message, say) are merged into one.
func convertMessages(in []sdk.Message) ([]systemBlock, []message, error) {
	var system []systemBlock
	var out []message
	add := func(role string, blocks []contentBlock) {
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			return
		}
		out = append(out, message{Role: role, Content: blocks})
	}
	for i, m := range in {
		switch m.Role {
		case "system", "developer":
			blocks, err := systemBlocks(i, m)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, blocks...)
		case "user":
			blocks, err := userBlocks(i, m)
			if err != nil {
				return nil, nil, err
			}
			add("user", blocks)
		case "assistant":
			blocks, err := assistantBlocks(i, m)
			if err != nil {
				return nil, nil, err
			}
			add("assistant", blocks)
		case "tool":
			if m.ToolCallID == "" {
				return nil, nil, badParam(fmt.Sprintf("messages[%d].tool_call_id", i), "required in tool messages")
			}
			block := contentBlock{ToolResult: &toolResultBlock{ToolUseID: m.ToolCallID,
				Content: []toolResultContent{{Text: m.Content.String()}}}}
			add("user", withCachePoint([]contentBlock{block}, m.CacheControl))
		default:
			return nil, nil, badParam(fmt.Sprintf("messages[%d].role", i), fmt.Sprintf("%q messages are not "+
				"supported by bedrock; use tool messages", m.Role))
		}
	}
	return system, out, nil
}

func badParam(param, msg string) *sdk.Error {
	return sdk.NewError(sdk.KindBadRequest, param+": "+msg).WithParam(param)
}

func hasCacheControl(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// withCachePoint appends a cache point after blocks when the message or part asks for prompt caching
// (Anthropic's cache_control, which LiteLLM maps to Converse cache points).
func withCachePoint(blocks []contentBlock, cc json.RawMessage) []contentBlock {
	if hasCacheControl(cc) {
		blocks = append(blocks, contentBlock{CachePoint: defaultCachePoint})
	}
	return blocks
}

func systemBlocks(i int, m sdk.Message) ([]systemBlock, error) {
	var out []systemBlock
	if !m.Content.IsParts {
		if m.Content.Text != "" {
			out = append(out, systemBlock{Text: m.Content.Text})
		}
	} else {
		for j, p := range m.Content.Parts {
			if p.Type != "text" {
				return nil, badParam(fmt.Sprintf("messages[%d].content[%d].type", i, j),
					fmt.Sprintf("%q parts are not allowed in system messages", p.Type))
			}
			if p.Text != "" {
				out = append(out, systemBlock{Text: p.Text})
			}
			if hasCacheControl(p.CacheControl) {
				out = append(out, systemBlock{CachePoint: defaultCachePoint})
			}
		}
	}
	if hasCacheControl(m.CacheControl) {
		out = append(out, systemBlock{CachePoint: defaultCachePoint})
	}
	return out, nil
}

func userBlocks(i int, m sdk.Message) ([]contentBlock, error) {
	var out []contentBlock
	if !m.Content.IsParts {
		if m.Content.Text != "" {
			out = append(out, contentBlock{Text: m.Content.Text})
		}
		return withCachePoint(out, m.CacheControl), nil
	}
	docs := 0
	for j, p := range m.Content.Parts {
		param := fmt.Sprintf("messages[%d].content[%d]", i, j)
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, contentBlock{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, badParam(param+".image_url", "required in image_url parts")
			}
			img, err := image(param+".image_url.url", p.ImageURL.URL, p.ImageURL.Format)
			if err != nil {
				return nil, err
			}
			out = append(out, contentBlock{Image: img})
		case "file":
			if p.File == nil || p.File.FileData == "" {
				return nil, badParam(param+".file", "bedrock takes files as file_data (a base64 data: URL); "+
					"uploaded file ids are not supported")
			}
			mime, data, ok := parseDataURL(p.File.FileData)
			if !ok {
				return nil, badParam(param+".file.file_data", "must be a base64 data: URL")
			}
			if strings.HasPrefix(mime, "image/") {
				img, err := image(param+".file.file_data", p.File.FileData, "")
				if err != nil {
					return nil, err
				}
				out = append(out, contentBlock{Image: img})
				break
			}
			format, ok := documentFormats[mime]
			if !ok {
				return nil, badParam(param+".file.file_data", fmt.Sprintf("files of type %q are not supported "+
					"by bedrock (pdf, csv, doc, docx, xls, xlsx, html, txt, md are)", mime))
			}
			docs++
			out = append(out, contentBlock{Document: &documentBlock{Format: format,
				Name: documentName(p.File.Filename, docs), Source: bytesSource{Bytes: data}}})
		default:
			return nil, badParam(param+".type", fmt.Sprintf("%q parts are not supported by bedrock", p.Type))
		}
		if hasCacheControl(p.CacheControl) {
			out = append(out, contentBlock{CachePoint: defaultCachePoint})
		}
	}
	return withCachePoint(out, m.CacheControl), nil
}

func assistantBlocks(i int, m sdk.Message) ([]contentBlock, error) {
	var out []contentBlock
	if text := m.Content.String(); text != "" {
		out = append(out, contentBlock{Text: text})
	}
	for j, tc := range m.ToolCalls {
		param := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, badParam(param, "a tool call needs an id and a function name")
		}
		input := json.RawMessage(bytes.TrimSpace([]byte(tc.Function.Arguments)))
		if len(input) == 0 {
			input = json.RawMessage("{}")
		}
		if input[0] != '{' || !json.Valid(input) {
			return nil, badParam(param+".function.arguments", "must be a JSON object")
		}
		out = append(out, contentBlock{ToolUse: &toolUseBlock{ToolUseID: tc.ID, Name: tc.Function.Name, Input: input}})
	}
	return withCachePoint(out, m.CacheControl), nil
}

// imageFormats maps image media types to Converse image formats.
var imageFormats = map[string]string{"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
	"image/gif": "gif", "image/webp": "webp"}

// documentFormats maps document media types to Converse document formats.
var documentFormats = map[string]string{
	"application/pdf":    "pdf",
	"text/csv":           "csv",
	"application/msword": "doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"application/vnd.ms-excel": "xls",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
	"text/html":     "html",
	"text/plain":    "txt",
	"text/markdown": "md",
}

// image converts an image URL, which must be a base64 data: URL by now: the gateway fetches http(s) images for
// providers that take bytes only (Capabilities.FetchImages).
func image(param, u, formatHint string) (*imageBlock, error) {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return nil, badParam(param, "bedrock takes images as bytes only, and this image URL was not fetched; "+
			"send the image as a base64 data: URL")
	}
	mime, data, ok := parseDataURL(u)
	if !ok {
		return nil, badParam(param, "must be a base64 data: URL or an http(s) URL")
	}
	if formatHint != "" {
		mime = formatHint
	}
	format, ok := imageFormats[strings.ToLower(mime)]
	if !ok {
		return nil, badParam(param, fmt.Sprintf("images of type %q are not supported by bedrock (png, jpeg, "+
			"gif, webp are)", mime))
	}
	return &imageBlock{Format: format, Source: bytesSource{Bytes: data}}, nil
}

// parseDataURL splits a base64 data: URL into its media type and data.
func parseDataURL(u string) (mime, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	if params[len(params)-1] != "base64" {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(params[0])), data, true
}

// documentName makes a Converse document name (letters, digits, single spaces, hyphens, parentheses and square
// brackets) from a file name.
func documentName(filename string, n int) string {
	if dot := strings.LastIndexByte(filename, '.'); dot > 0 {
		filename = filename[:dot]
	}
	var b strings.Builder
	space := false
	for _, r := range filename {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '(', r == ')',
			r == '[', r == ']':
			b.WriteRune(r)
			space = false
		case !space && b.Len() > 0:
			b.WriteByte(' ')
			space = true
		}
	}
	name := strings.TrimSpace(b.String())
	if name == "" {
		name = fmt.Sprintf("document-%d", n)
	}
	return name
}
