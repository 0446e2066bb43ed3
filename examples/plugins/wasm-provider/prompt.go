package tgi

import (
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// Templates that flatten a conversation into TGI's single prompt.
//
// TemplatePlain writes each message as a labelled paragraph and ends with the assistant's label, for the model
// to continue:
//
//	System: <system or developer message>
//
//	User: <user message>
//
//	Assistant: <assistant message>
//
//	User: <user message>
//
//	Assistant:
//
// TemplateChatML writes the ChatML markup many instruction-tuned models are trained on, and opens the
// assistant's turn:
//
//	<|im_start|>system
//	<system message><|im_end|>
//	<|im_start|>user
//	<user message><|im_end|>
//	<|im_start|>assistant
const (
	TemplatePlain  = "plain"
	TemplateChatML = "chatml"
)

// Prompt flattens the messages with the template. Only text can be carried: images, audio, files, tool calls
// and tool results are refused.
func Prompt(template string, msgs []sdk.Message) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		role := m.Role
		switch role {
		case "system", "developer":
			role = "system"
		case "user", "assistant":
		default:
			return "", sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: TGI's native API has no %q "+
				"messages (tool calling is not supported)", i, m.Role)).WithParam(fmt.Sprintf("messages[%d].role", i))
		}
		if len(m.ToolCalls) > 0 {
			return "", sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: TGI's native API has no tool "+
				"calls", i)).WithParam(fmt.Sprintf("messages[%d].tool_calls", i))
		}
		for _, p := range m.Content.Parts {
			if p.Type != "text" {
				return "", sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d].content: TGI's native API "+
					"takes text only, not %q parts", i, p.Type)).WithParam(fmt.Sprintf("messages[%d].content", i))
			}
		}
		text := m.Content.String()
		switch template {
		case TemplateChatML:
			b.WriteString("<|im_start|>" + role + "\n" + text + "<|im_end|>\n")
		default:
			b.WriteString(label(role) + ": " + text + "\n\n")
		}
	}
	if template == TemplateChatML {
		b.WriteString("<|im_start|>assistant\n")
	} else {
		b.WriteString("Assistant:")
	}
	return b.String(), nil
}

func label(role string) string {
	switch role {
	case "system":
		return "System"
	case "assistant":
		return "Assistant"
	}
	return "User"
}
