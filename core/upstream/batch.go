package upstream

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/switchyard/gateway/sdk"
)

// embeddingBatchConcurrency bounds the batches of one embeddings request in flight at once.
const embeddingBatchConcurrency = 8

// splitInput cuts an input into batches of at most n inputs, in order: texts first, then token arrays (an Input
// holds one kind in practice; Len counts them in that order). Batches are lists, never Single: only an input of
// one item is Single, and it is never split.
func splitInput(in sdk.Input, n int) []sdk.Input {
	var out []sdk.Input
	for texts := in.Texts; len(texts) > 0; {
		k := min(n, len(texts))
		out = append(out, sdk.Input{Texts: texts[:k:k]})
		texts = texts[k:]
	}
	for toks := in.Tokens; len(toks) > 0; {
		k := min(n, len(toks))
		out = append(out, sdk.Input{Tokens: toks[:k:k]})
		toks = toks[k:]
	}
	return out
}

// embedInBatches serves an embeddings request whose upstream takes at most n inputs per request: the input is
// cut into batches of n, sent concurrently (embeddingBatchConcurrency at a time) with embed, and the answers
// joined in input order with their usage summed. The first batch to fail fails the request with its error, and
// the batches still under way are cancelled.
func embedInBatches(ctx context.Context, t *sdk.Target, req *sdk.EmbeddingRequest, n int,
	embed func(context.Context, *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error)) (*sdk.EmbeddingResponse, error) {
	batches := splitInput(req.Input, n)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resps := make([]*sdk.EmbeddingResponse, len(batches))
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	sem := make(chan struct{}, embeddingBatchConcurrency)
launch:
	for i, in := range batches {
		select {
		case sem <- struct{}{}:
		case <-bctx.Done():
			break launch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := *req
			r.Input, r.Raw = in, nil // Raw is the whole request's body, not this batch's
			resp, err := embed(bctx, &r)
			if err == nil {
				if resp, err = resp.Decoded(); err != nil {
					err = parseError(err, t)
				}
			}
			if err != nil {
				fail(err)
				return
			}
			resps[i] = resp
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, attribute(sdk.AsError(err), t.Provider)
	}
	return joinEmbeddings(t, batches, resps)
}

// joinEmbeddings joins the answers to consecutive batches into one, renumbering the vectors by their place in
// the whole input.
func joinEmbeddings(t *sdk.Target, batches []sdk.Input, resps []*sdk.EmbeddingResponse) (*sdk.EmbeddingResponse, error) {
	out := &sdk.EmbeddingResponse{Object: "list", Model: resps[0].Model}
	total := 0
	for _, b := range batches {
		total += b.Len()
	}
	out.Data = make([]sdk.EmbeddingData, 0, total)
	offset := 0
	for i, r := range resps {
		want := batches[i].Len()
		if len(r.Data) != want {
			return nil, &sdk.Error{Kind: sdk.KindAPIConnection, Provider: t.Provider, Message: fmt.Sprintf(
				"the upstream answered %d embeddings to a batch of %d inputs", len(r.Data), want)}
		}
		data := slices.Clone(r.Data)
		// An upstream may answer a batch out of order; its indexes say which vector is which.
		slices.SortStableFunc(data, func(a, b sdk.EmbeddingData) int { return cmp.Compare(a.Index, b.Index) })
		for j := range data {
			data[j].Index = offset + j
			if data[j].Object == "" {
				data[j].Object = "embedding"
			}
		}
		out.Data = append(out.Data, data...)
		out.Usage = addUsage(out.Usage, r.Usage)
		offset += want
	}
	return out, nil
}

// addUsage returns the sum of two usages (nil when both are).
func addUsage(a, b *sdk.Usage) *sdk.Usage {
	if b == nil {
		return a
	}
	sum := &sdk.Usage{}
	if a != nil {
		*sum = *a
	}
	sum.PromptTokens += b.PromptTokens
	sum.CompletionTokens += b.CompletionTokens
	sum.TotalTokens += b.TotalTokens
	if d := b.PromptTokensDetails; d != nil {
		s := &sdk.PromptTokensDetails{}
		if sum.PromptTokensDetails != nil {
			*s = *sum.PromptTokensDetails
		}
		s.CachedTokens += d.CachedTokens
		s.AudioTokens += d.AudioTokens
		s.CacheCreationTokens += d.CacheCreationTokens
		sum.PromptTokensDetails = s
	}
	if d := b.CompletionTokensDetails; d != nil {
		s := &sdk.CompletionTokensDetails{}
		if sum.CompletionTokensDetails != nil {
			*s = *sum.CompletionTokensDetails
		}
		s.ReasoningTokens += d.ReasoningTokens
		s.AudioTokens += d.AudioTokens
		sum.CompletionTokensDetails = s
	}
	return sum
}
