package sdk

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// EmbeddingRequest is an embeddings request in OpenAI's wire format.
type EmbeddingRequest struct {
	Model string `json:"model"`
	Input Input  `json:"input"`
	// EncodingFormat is "float" (the default) or "base64".
	EncodingFormat string `json:"encoding_format,omitempty"`
	Dimensions     *int   `json:"dimensions,omitempty"`
	User           string `json:"user,omitempty"`
	// InputType is the purpose of the input for providers that need it ("search_query", "search_document",
	// "classification", "clustering"), as LiteLLM passes it to Cohere and Bedrock.
	InputType string `json:"input_type,omitempty"`

	Controls

	Extra map[string]json.RawMessage `json:"-"`
	Raw   json.RawMessage            `json:"-"`
}

var embeddingFields = jsonNames(EmbeddingRequest{})

// UnmarshalJSON decodes a request, keeping unknown members in Extra and the whole body in Raw.
func (r *EmbeddingRequest) UnmarshalJSON(b []byte) error {
	type plain EmbeddingRequest
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	// b may be a decoder's buffer, reused after we return (see json.Unmarshaler), and Raw and Extra outlive it.
	r.Raw = bytes.Clone(b)
	r.Extra = collectExtra(r.Raw, embeddingFields)
	return nil
}

// MarshalJSON encodes the request with its Extra members.
func (r EmbeddingRequest) MarshalJSON() ([]byte, error) {
	type plain EmbeddingRequest
	return marshalWithExtra((*plain)(&r), r.Extra)
}

// Validate checks the model and the input.
func (r *EmbeddingRequest) Validate() error {
	if r.Model == "" {
		return NewError(KindBadRequest, "model: required").WithParam("model")
	}
	if r.Input.Len() == 0 {
		return NewError(KindBadRequest, "input: required, and must not be empty").WithParam("input")
	}
	switch r.EncodingFormat {
	case "", "float", "base64":
	default:
		return NewError(KindBadRequest, fmt.Sprintf("encoding_format: %q is not one of float, base64",
			r.EncodingFormat)).WithParam("encoding_format")
	}
	return nil
}

// Input is the input of an embeddings or completions request: one string, several, or token arrays.
type Input struct {
	Texts []string
	// Tokens holds token-id inputs; a single array of ids is one input.
	Tokens [][]int
	// Single is true when the input was one string or one token array rather than a list.
	Single bool
}

// TextInput returns an input of the given strings.
func TextInput(texts ...string) Input { return Input{Texts: texts, Single: len(texts) == 1} }

// Len returns the number of inputs.
func (in Input) Len() int { return len(in.Texts) + len(in.Tokens) }

// UnmarshalJSON accepts a string, an array of strings, an array of token ids or an array of such arrays.
func (in *Input) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*in = Input{}
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		in.Single = true
		in.Texts = make([]string, 1)
		return json.Unmarshal(b, &in.Texts[0])
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		switch first := bytes.TrimSpace(items[0]); {
		case len(first) > 0 && first[0] == '"':
			return json.Unmarshal(b, &in.Texts)
		case len(first) > 0 && first[0] == '[':
			return json.Unmarshal(b, &in.Tokens)
		default:
			in.Single = true
			in.Tokens = make([][]int, 1)
			return json.Unmarshal(b, &in.Tokens[0])
		}
	case 'n':
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b), Type: inputType}
}

// MarshalJSON writes the wire form.
func (in Input) MarshalJSON() ([]byte, error) {
	switch {
	case in.Single && len(in.Texts) == 1:
		return json.Marshal(in.Texts[0])
	case in.Single && len(in.Tokens) == 1:
		return json.Marshal(in.Tokens[0])
	case in.Tokens != nil:
		return json.Marshal(in.Tokens)
	case in.Texts == nil:
		return []byte("[]"), nil
	}
	return json.Marshal(in.Texts)
}

// EmbeddingResponse is the answer to an embeddings request.
type EmbeddingResponse struct {
	Object string          `json:"object"`
	Data   []EmbeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  *Usage          `json:"usage,omitempty"`

	// Raw, when set, is the upstream body returned to the client as it is; the typed fields other than Usage may
	// then be empty (see Decoded).
	Raw json.RawMessage `json:"-"`
}

// Decoded returns the response with its typed fields filled, decoding Raw when they were left empty.
func (r *EmbeddingResponse) Decoded() (*EmbeddingResponse, error) {
	if r.Raw == nil || r.Object != "" || len(r.Data) > 0 {
		return r, nil
	}
	var d EmbeddingResponse
	if err := json.Unmarshal(r.Raw, &d); err != nil {
		return nil, err
	}
	d.Raw = r.Raw
	if d.Usage == nil {
		d.Usage = r.Usage
	}
	return &d, nil
}

// EmbeddingData is one embedding vector.
type EmbeddingData struct {
	Object    string    `json:"object"`
	Index     int       `json:"index"`
	Embedding Embedding `json:"embedding"`
}

// Embedding is a vector, sent as an array of floats or, in base64 encoding, as the base64 of its little-endian
// float32 values.
type Embedding struct {
	Floats []float32
	// Base64 is set instead of Floats when the vector is in base64 encoding.
	Base64 string
}

// UnmarshalJSON accepts both encodings.
func (e *Embedding) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*e = Embedding{}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Base64)
	}
	return json.Unmarshal(b, &e.Floats)
}

// MarshalJSON writes the encoding the vector is in.
func (e Embedding) MarshalJSON() ([]byte, error) {
	if e.Base64 != "" || e.Floats == nil {
		return json.Marshal(e.Base64)
	}
	return json.Marshal(e.Floats)
}

// Vector returns the float values, decoding base64 when needed.
func (e Embedding) Vector() ([]float32, error) {
	if e.Base64 == "" {
		return e.Floats, nil
	}
	raw, err := base64.StdEncoding.DecodeString(e.Base64)
	if err != nil {
		return nil, fmt.Errorf("embedding: %w", err)
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("embedding: %d bytes is not a whole number of float32 values", len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// ToBase64 returns the vector in base64 encoding.
func (e Embedding) ToBase64() Embedding {
	if e.Base64 != "" {
		return e
	}
	raw := make([]byte, 4*len(e.Floats))
	for i, f := range e.Floats {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return Embedding{Base64: base64.StdEncoding.EncodeToString(raw)}
}
