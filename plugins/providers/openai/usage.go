package openai

import (
	"errors"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// answerUsage checks that an answer is a whole JSON object and reads its usage (the standard top-level "usage",
// or Groq's "x_groq.usage"), the one part the gateway needs on every request; the rest is decoded only if
// something asks (sdk.ChatResponse.Decoded). The check walks the object's framing (balanced brackets, closed
// strings, nothing after the end) in the same pass, which catches truncated and non-JSON answers at a fraction
// of a full validation's cost; the bytes are the upstream's to get right.
func answerUsage(body []byte) (*sdk.Usage, error) {
	var usage, groq []byte
	if rawjson.Each(body, func(k, v []byte) bool {
		switch string(k) {
		case "usage":
			if usage == nil {
				usage = v
			}
		case "x_groq":
			if groq == nil {
				groq = v
			}
		}
		return true
	}) != nil {
		return nil, errors.New("the upstream answer is not a JSON object")
	}
	return usageFrom(usage, groq)
}

// usageOf reads a stream chunk's usage, as answerUsage does.
func usageOf(chunk []byte) (*sdk.Usage, error) {
	return usageFrom(rawjson.Get(chunk, "usage"), rawjson.Get(chunk, "x_groq"))
}

func usageFrom(usage, groq []byte) (*sdk.Usage, error) {
	if isNull(usage) && len(groq) > 0 && groq[0] == '{' {
		usage = rawjson.Get(groq, "usage")
	}
	if isNull(usage) {
		return nil, nil
	}
	return sdk.DecodeUsage(usage)
}

func isNull(v []byte) bool { return v == nil || string(v) == "null" }
