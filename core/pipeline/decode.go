package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// DecodeStage turns the request body into the typed request of the call and validates it. It runs after auth,
// so that an unauthenticated client learns nothing from validation errors.
type DecodeStage struct{}

func (DecodeStage) Name() string { return "decode" }

func (DecodeStage) After(*Call) {}

func (DecodeStage) Before(_ context.Context, c *Call) error {
	if c.Body != nil {
		var err error
		switch c.Type {
		case CallChat:
			c.Chat = new(sdk.ChatRequest)
			err = DecodeJSON(c.Body, c.Chat)
		case CallCompletion:
			c.Completion = new(sdk.CompletionRequest)
			err = DecodeJSON(c.Body, c.Completion)
		case CallEmbedding:
			c.Embedding = new(sdk.EmbeddingRequest)
			err = DecodeJSON(c.Body, c.Embedding)
		case CallRerank:
			c.Rerank = new(sdk.RerankRequest)
			err = DecodeJSON(c.Body, c.Rerank)
		}
		if err != nil {
			return err
		}
	}
	var err error
	switch c.Type {
	case CallChat:
		if c.Chat.Model == "" {
			c.Chat.Model = c.PathModel
		}
		c.Model, c.Streaming = c.Chat.Model, c.Chat.Stream
		err = c.Chat.Validate()
	case CallCompletion:
		if c.Completion.Model == "" {
			c.Completion.Model = c.PathModel
		}
		c.Model, c.Streaming = c.Completion.Model, c.Completion.Stream
		err = c.Completion.Validate()
	case CallEmbedding:
		if c.Embedding.Model == "" {
			c.Embedding.Model = c.PathModel
		}
		c.Model = c.Embedding.Model
		err = c.Embedding.Validate()
	case CallRerank:
		if c.Rerank.Model == "" {
			c.Rerank.Model = c.PathModel
		}
		c.Model = c.Rerank.Model
		err = c.Rerank.Validate()
	}
	if err != nil {
		return err
	}
	if t := c.Controls().Timeout; t != nil && c.TimeoutOverride == 0 {
		if !(*t >= 0.001 && *t <= maxTimeout.Seconds()) {
			return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("timeout: must be a number of seconds between "+
				"0.001 and %.0f", maxTimeout.Seconds())).WithParam("timeout")
		}
		c.TimeoutOverride = time.Duration(*t * float64(time.Second))
	}
	return nil
}

// maxTimeout bounds a client-requested timeout.
const maxTimeout = 24 * time.Hour

// DecodeJSON decodes a request body, turning decoding failures into OpenAI-style 400 errors that say what is
// wrong and where.
func DecodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return sdk.NewError(sdk.KindBadRequest, "The request body is empty: send a JSON object.")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return sdk.NewError(sdk.KindBadRequest, "The request body is not valid JSON.")
		}
		return sdk.NewError(sdk.KindBadRequest, "The request body must be a JSON object.")
	}
	var err error
	if u, ok := v.(json.Unmarshaler); ok {
		// The request types decode themselves with one json.Unmarshal; calling it directly spares encoding/json
		// a first validating pass over the whole body.
		err = u.UnmarshalJSON(body)
	} else {
		err = json.Unmarshal(body, v)
	}
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var own *sdk.Error
	switch {
	case errors.As(err, &own):
		// A request type's own decoder said what is wrong (a rerank document neither string nor object).
		return own
	case errors.As(err, &syn):
		return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf(
			"The request body is not valid JSON: %s (at byte %d).", syn.Error(), syn.Offset))
	case errors.As(err, &typ):
		// encoding/json names a member of an embedded struct by the Go field too ("Controls.timeout"); the
		// client knows only the wire name.
		typ.Field = strings.TrimPrefix(typ.Field, "Controls.")
		field := typ.Field
		if field == "" {
			field = "the request body"
		}
		return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("Invalid type for '%s': expected %s, got %s.",
			field, describeType(typ.Type.String()), article(typ.Value))).WithParam(typ.Field)
	}
	return sdk.NewError(sdk.KindBadRequest, "Invalid request body: "+err.Error())
}

func describeType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"), t == "sdk.Stop", t == "sdk.Input":
		return "an array"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "sdk."), strings.HasPrefix(t, "*sdk."):
		if t == "sdk.Content" {
			return "a string or an array of content parts"
		}
		return "an object"
	case strings.Contains(t, "int"):
		return "an integer"
	case strings.Contains(t, "float"):
		return "a number"
	case strings.Contains(t, "bool"):
		return "a boolean"
	case strings.Contains(t, "string"):
		return "a string"
	}
	return t
}

func article(kind string) string {
	switch kind {
	case "array", "object", "integer":
		return "an " + kind
	case "null":
		return "null"
	case "bool": // encoding/json's name; say it as describeType does
		return "a boolean"
	}
	if strings.HasPrefix(kind, "number") {
		return "a number"
	}
	return "a " + kind
}
