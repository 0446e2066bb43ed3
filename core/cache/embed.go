package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Embeddings are cached per input: each input of a request is an entry of its own (see EmbeddingKeys). When
// every input is stored the call is a hit; when some are, only the others go upstream, in one request, and the
// answer is put back together in the request's order; when none are, the request goes upstream as it is. The
// usage reported is the upstream's, for the inputs it embedded (zero on a hit).

// embedState is what Before decided about an embeddings call.
type embedState struct {
	keys     []string
	original sdk.Input
	// cached holds the stored vector of each input (nil for the inputs sent upstream), and model the model
	// name of the first stored one; missing lists the inputs sent upstream, in order.
	cached  []json.RawMessage
	model   string
	missing []int
}

// embeddingItem is what is stored for one input.
type embeddingItem struct {
	Model     string          `json:"model"`
	Embedding json.RawMessage `json:"embedding"`
}

// embeddingsJSON is an embeddings answer with its vectors left as they are (floats or base64).
type embeddingsJSON struct {
	Object string          `json:"object"`
	Data   []embeddingJSON `json:"data"`
	Model  string          `json:"model"`
	Usage  *sdk.Usage      `json:"usage"`
}

type embeddingJSON struct {
	Object    string          `json:"object"`
	Index     int             `json:"index"`
	Embedding json.RawMessage `json:"embedding"`
}

func (s *Stage) beforeEmbedding(ctx context.Context, c *pipeline.Call, ctl Controls, ns string, st *state) error {
	keys, err := EmbeddingKeys(c, Tenant(c.Principal))
	if err != nil || len(keys) == 0 {
		return nil
	}
	for i := range keys {
		keys[i] = namespaced(ns, keys[i])
	}
	e := &embedState{keys: keys, original: c.Embedding.Input, cached: make([]json.RawMessage, len(keys))}
	st.embed = e
	c.Set(stateKey{}, st)
	var entries []Entry
	if !ctl.NoCache {
		entries = getMany(ctx, s.store, keys)
	}
	for i := range keys {
		if i < len(entries) && entries[i].Value != nil && s.fresh(entries[i], ctl) {
			var item embeddingItem
			if json.Unmarshal(entries[i].Value, &item) == nil && len(item.Embedding) > 0 {
				e.cached[i] = item.Embedding
				if e.model == "" {
					e.model = item.Model
				}
				continue
			}
		}
		e.missing = append(e.missing, i)
	}
	switch {
	case len(e.missing) == 0:
		usage := &sdk.Usage{}
		if body, err := e.assemble(nil, e.model, usage); err == nil {
			c.Complete(&sdk.EmbeddingResponse{Raw: body, Usage: usage})
			s.markHit(c, keys[0], usage)
			s.hits.Add(1)
			return nil
		}
		// A stored vector is not valid JSON: ask the upstream for everything and store it afresh.
		clear(e.cached)
		for i := range keys {
			e.missing = append(e.missing, i)
		}
	case len(e.missing) < len(keys):
		c.Embedding.Input, c.Embedding.Raw = subset(e.original, e.missing), nil
		s.partial.Add(1)
	}
	s.misses.Add(1)
	return nil
}

// subset returns the inputs at the given positions (texts and token arrays are never mixed in one request).
func subset(in sdk.Input, at []int) sdk.Input {
	var out sdk.Input
	for _, i := range at {
		if i < len(in.Texts) {
			out.Texts = append(out.Texts, in.Texts[i])
		} else {
			out.Tokens = append(out.Tokens, in.Tokens[i-len(in.Texts)])
		}
	}
	return out
}

// interceptEmbedding stores the vectors the upstream returned and, when some inputs came from the cache, puts
// the answer back together in the request's order.
func (s *Stage) interceptEmbedding(c *pipeline.Call, st *state) {
	e := st.embed
	partial := len(e.missing) < len(e.keys)
	c.Embedding.Input = e.original
	if c.Err != nil {
		return
	}
	resp, ok := c.Response.(*sdk.EmbeddingResponse)
	if !ok {
		return
	}
	got, err := decodeEmbeddings(resp)
	if err == nil && len(got.Data) != len(e.missing) {
		err = fmt.Errorf("the upstream returned %d embeddings for %d inputs", len(got.Data), len(e.missing))
	}
	if err != nil {
		if partial { // the answer cannot be put back together: fail rather than return the wrong vectors
			c.Response = nil
			c.Fail(&sdk.Error{Kind: sdk.KindAPIConnection, Message: "embeddings: " + err.Error(), Err: err})
		}
		return
	}
	if !st.noStore {
		items := make([]Item, 0, len(got.Data))
		now := s.now()
		for k, d := range got.Data {
			value, err := json.Marshal(embeddingItem{Model: got.Model, Embedding: d.Embedding})
			if err != nil || len(value) > s.maxItem {
				continue
			}
			items = append(items, Item{Key: e.keys[e.missing[k]], Entry: Entry{Value: value, Created: now}, TTL: st.ttl})
		}
		setMany(context.Background(), s.store, items)
		s.stores.Add(uint64(len(items)))
	}
	if !partial {
		return
	}
	upstream := make([]json.RawMessage, len(got.Data))
	for k, d := range got.Data {
		upstream[k] = d.Embedding
	}
	body, err := e.assemble(upstream, got.Model, got.Usage)
	if err != nil {
		c.Response = nil
		c.Fail(sdk.Errorf(sdk.KindInternal, "embeddings: %w", err))
		return
	}
	c.Response = &sdk.EmbeddingResponse{Raw: body, Usage: got.Usage}
}

// assemble builds the answer to the whole request from the cached vectors and, in order, those of the inputs
// sent upstream.
func (e *embedState) assemble(upstream []json.RawMessage, model string, usage *sdk.Usage) ([]byte, error) {
	out := embeddingsJSON{Object: "list", Model: model, Usage: usage, Data: make([]embeddingJSON, len(e.keys))}
	k := 0
	for i := range e.keys {
		v := e.cached[i]
		if v == nil {
			if k >= len(upstream) {
				return nil, fmt.Errorf("input %d has no embedding", i)
			}
			v = upstream[k]
			k++
		}
		out.Data[i] = embeddingJSON{Object: "embedding", Index: i, Embedding: v}
	}
	return json.Marshal(&out)
}

// decodeEmbeddings reads an upstream embeddings answer with its vectors as they are, ordered by index.
func decodeEmbeddings(r *sdk.EmbeddingResponse) (*embeddingsJSON, error) {
	raw := []byte(r.Raw)
	if raw == nil {
		var err error
		if raw, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	var out embeddingsJSON
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	if out.Usage == nil {
		out.Usage = r.Usage
	}
	slices.SortStableFunc(out.Data, func(a, b embeddingJSON) int { return a.Index - b.Index })
	for k, d := range out.Data {
		if d.Index != k || len(d.Embedding) == 0 {
			return nil, fmt.Errorf("the upstream's embeddings are not indexed 0 to %d", len(out.Data)-1)
		}
	}
	return &out, nil
}
