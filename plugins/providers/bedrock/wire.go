package bedrock

import "encoding/json"

// Converse wire types, as documented in the Bedrock API reference (Converse, ConverseStream). Only what this
// translator sends or reads is modelled.

type converseRequest struct {
	Messages        []message        `json:"messages"`
	System          []systemBlock    `json:"system,omitempty"`
	InferenceConfig *inferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *toolConfig      `json:"toolConfig,omitempty"`
	// AdditionalModelRequestFields carries model-specific parameters (top_k, thinking, ...).
	AdditionalModelRequestFields map[string]json.RawMessage `json:"additionalModelRequestFields,omitempty"`
	// Passthrough holds the other top-level Converse members a client may give (guardrailConfig,
	// performanceConfig, requestMetadata, ...), sent as they are.
	Passthrough map[string]json.RawMessage `json:"-"`
}

type message struct {
	Role    string         `json:"role"`
	Content []contentBlock `json:"content"`
}

type contentBlock struct {
	Text       string           `json:"text,omitempty"`
	Image      *imageBlock      `json:"image,omitempty"`
	Document   *documentBlock   `json:"document,omitempty"`
	ToolUse    *toolUseBlock    `json:"toolUse,omitempty"`
	ToolResult *toolResultBlock `json:"toolResult,omitempty"`
	CachePoint *cachePoint      `json:"cachePoint,omitempty"`
}

type systemBlock struct {
	Text       string      `json:"text,omitempty"`
	CachePoint *cachePoint `json:"cachePoint,omitempty"`
}

type cachePoint struct {
	Type string `json:"type"`
}

var defaultCachePoint = &cachePoint{Type: "default"}

type imageBlock struct {
	Format string      `json:"format"`
	Source bytesSource `json:"source"`
}

type documentBlock struct {
	Format string      `json:"format"`
	Name   string      `json:"name"`
	Source bytesSource `json:"source"`
}

// bytesSource holds base64 data, which is how JSON carries Bedrock's blobs.
type bytesSource struct {
	Bytes string `json:"bytes"`
}

type toolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []toolResultContent `json:"content"`
}

type toolResultContent struct {
	Text string `json:"text"`
}

type inferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type toolConfig struct {
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice,omitempty"`
}

type tool struct {
	ToolSpec toolSpec `json:"toolSpec"`
}

type toolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema inputSchema `json:"inputSchema"`
}

type inputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// toolChoice is a union: exactly one member is set.
type toolChoice struct {
	Auto *struct{}   `json:"auto,omitempty"`
	Any  *struct{}   `json:"any,omitempty"`
	Tool *toolByName `json:"tool,omitempty"`
}

type toolByName struct {
	Name string `json:"name"`
}

// converseResponse is a Converse answer.
type converseResponse struct {
	Output struct {
		Message *struct {
			Role    string          `json:"role"`
			Content []responseBlock `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string      `json:"stopReason"`
	Usage      *tokenUsage `json:"usage"`
}

type responseBlock struct {
	Text             *string           `json:"text"`
	ToolUse          *toolUseBlock     `json:"toolUse"`
	ReasoningContent *reasoningContent `json:"reasoningContent"`
}

type reasoningContent struct {
	ReasoningText *struct {
		Text      string `json:"text"`
		Signature string `json:"signature"`
	} `json:"reasoningText"`
}

type tokenUsage struct {
	InputTokens           int  `json:"inputTokens"`
	OutputTokens          int  `json:"outputTokens"`
	TotalTokens           int  `json:"totalTokens"`
	CacheReadInputTokens  *int `json:"cacheReadInputTokens"`
	CacheWriteInputTokens *int `json:"cacheWriteInputTokens"`
}

// Stream event payloads. Bedrock pads events with a "p" member, which is ignored.

type contentBlockStartEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
}

type contentBlockDeltaEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Delta             struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"`
		} `json:"toolUse"`
		ReasoningContent *struct {
			Text      *string `json:"text"`
			Signature *string `json:"signature"`
		} `json:"reasoningContent"`
	} `json:"delta"`
}

type messageStopEvent struct {
	StopReason string `json:"stopReason"`
}

type metadataEvent struct {
	Usage *tokenUsage `json:"usage"`
}

// errorBody is the body of an error answer and the payload of an exception event.
type errorBody struct {
	Message      string `json:"message"`
	MessageUpper string `json:"Message"`
	Type         string `json:"__type"`
	Code         string `json:"code"`
}
