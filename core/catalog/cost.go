package catalog

import "github.com/switchyard/gateway/sdk"

// Usage is what one request consumed, counted as OpenAI counts it: the cached, cache-write and audio tokens
// are parts of PromptTokens, and the audio tokens of the response part of CompletionTokens.
type Usage struct {
	// PromptTokens counts every input token: uncached text, read from the prompt cache, written to it, audio.
	PromptTokens int
	// CompletionTokens counts every output token, reasoning and audio included.
	CompletionTokens int
	// CacheReadTokens are the prompt tokens read from the provider's prompt cache (OpenAI's cached_tokens).
	CacheReadTokens int
	// CacheWriteTokens are the prompt tokens written to the cache (Anthropic's cache_creation_input_tokens).
	CacheWriteTokens int
	// AudioPromptTokens and AudioCompletionTokens are the audio tokens of the prompt and of the response.
	AudioPromptTokens     int
	AudioCompletionTokens int
	// CacheReadAudioTokens are the audio tokens read from the cache, counted in both CacheReadTokens and
	// AudioPromptTokens.
	CacheReadAudioTokens int
}

// UsageFrom converts a response's usage; nil gives the zero Usage.
func UsageFrom(u *sdk.Usage) Usage {
	if u == nil {
		return Usage{}
	}
	out := Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadTokens, out.CacheWriteTokens, out.AudioPromptTokens = d.CachedTokens, d.CacheCreationTokens,
			d.AudioTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.AudioCompletionTokens = d.AudioTokens
	}
	return out
}

// RatesFor returns the rates that apply to a request whose prompt has promptTokens tokens: the base rates,
// each replaced by the highest tier that sets it and whose threshold the prompt exceeds.
func (i Info) RatesFor(promptTokens int) Rates {
	r := i.Rates
	for _, t := range i.Tiers {
		if promptTokens > t.AboveInputTokens {
			overlay(&r, t.Rates)
		}
	}
	return r
}

// overlay sets in dst the rates src sets.
func overlay(dst *Rates, src Rates) {
	set := func(d *float64, s float64) {
		if s != 0 {
			*d = s
		}
	}
	set(&dst.InputCostPerToken, src.InputCostPerToken)
	set(&dst.OutputCostPerToken, src.OutputCostPerToken)
	set(&dst.CacheReadInputTokenCost, src.CacheReadInputTokenCost)
	set(&dst.CacheCreationInputTokenCost, src.CacheCreationInputTokenCost)
	set(&dst.InputCostPerAudioToken, src.InputCostPerAudioToken)
	set(&dst.OutputCostPerAudioToken, src.OutputCostPerAudioToken)
	set(&dst.CacheReadInputAudioTokenCost, src.CacheReadInputAudioTokenCost)
	set(&dst.InputCostPerRequest, src.InputCostPerRequest)
}

// Cost returns the price in USD of one request's usage: Costs' prompt and completion parts together.
func (i Info) Cost(u Usage) float64 {
	prompt, completion := i.Costs(u)
	return prompt + completion
}

// Costs returns the price in USD of one request's prompt and of its completion. The rates are chosen by the
// prompt's size (RatesFor). Uncached text tokens pay input_cost_per_token; cache reads
// cache_read_input_token_cost and cache writes cache_creation_input_token_cost; audio tokens their audio rates;
// a cached, cache-write or audio rate the catalogue lacks is replaced by the text rate, so that tokens are
// never free for want of a price. The per-request price is part of the prompt's. Counts that contradict each
// other (more cached than prompt tokens) are clamped at zero rather than giving a negative price.
func (i Info) Costs(u Usage) (prompt, completion float64) {
	r := i.RatesFor(u.PromptTokens)
	or := func(rate, fallback float64) float64 {
		if rate == 0 {
			return fallback
		}
		return rate
	}
	in, out := r.InputCostPerToken, r.OutputCostPerToken
	cacheRead := or(r.CacheReadInputTokenCost, in)
	audioIn := or(r.InputCostPerAudioToken, in)

	cachedAudio := clamp(u.CacheReadAudioTokens)
	audio := clamp(u.AudioPromptTokens - cachedAudio)
	cachedText := clamp(u.CacheReadTokens - cachedAudio)
	write := clamp(u.CacheWriteTokens)
	text := clamp(u.PromptTokens - audio - cachedText - cachedAudio - write)
	prompt = float64(text)*in +
		float64(cachedText)*cacheRead +
		float64(write)*or(r.CacheCreationInputTokenCost, in) +
		float64(audio)*audioIn +
		float64(cachedAudio)*or(r.CacheReadInputAudioTokenCost, or(r.CacheReadInputTokenCost, audioIn)) +
		r.InputCostPerRequest

	audioOut := clamp(u.AudioCompletionTokens)
	textOut := clamp(u.CompletionTokens - audioOut)
	completion = float64(textOut)*out + float64(audioOut)*or(r.OutputCostPerAudioToken, out)
	return prompt, completion
}

func clamp(n int) int {
	if n < 0 {
		return 0
	}
	return n
}
