package governance

import (
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/quota"
)

// rateHeadersOneByOne is how rateHeaders wrote the headers before it wrote them into one string: the oracle.
func rateHeadersOneByOne(r quota.Remaining, now time.Time, set func(name, value string)) {
	reset := ""
	if !r.Reset.IsZero() && (r.LimitRequests > 0 || r.LimitTokens > 0) {
		reset = strconv.Itoa(int(max(r.Reset.Sub(now), 0).Round(time.Second)/time.Second)) + "s"
	}
	if r.LimitRequests > 0 {
		set("x-ratelimit-limit-requests", strconv.FormatInt(r.LimitRequests, 10))
		set("x-ratelimit-remaining-requests", strconv.FormatInt(max(r.RemainingRequests, 0), 10))
		if reset != "" {
			set("x-ratelimit-reset-requests", reset)
		}
	}
	if r.LimitTokens > 0 {
		set("x-ratelimit-limit-tokens", strconv.FormatInt(r.LimitTokens, 10))
		set("x-ratelimit-remaining-tokens", strconv.FormatInt(max(r.RemainingTokens, 0), 10))
		if reset != "" {
			set("x-ratelimit-reset-tokens", reset)
		}
	}
}

func TestRateHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	type kv struct{ k, v string }
	for _, r := range []quota.Remaining{
		{},
		{Reset: now.Add(30 * time.Second)},
		{LimitRequests: 100, RemainingRequests: 99},
		{LimitRequests: 100, RemainingRequests: -3, Reset: now.Add(1500 * time.Millisecond)},
		{LimitTokens: 100000000000, RemainingTokens: 99999999999, Reset: now.Add(59 * time.Second)},
		{LimitRequests: 1, RemainingRequests: 0, LimitTokens: 7, RemainingTokens: 6, Reset: now.Add(-time.Second)},
		{LimitRequests: 9223372036854775807, RemainingRequests: 9223372036854775807, LimitTokens: 9223372036854775807,
			RemainingTokens: 9223372036854775807, Reset: now.Add(time.Hour)},
	} {
		var want, got []kv
		rateHeadersOneByOne(r, now, func(k, v string) { want = append(want, kv{k, v}) })
		var hs [6]pipeline.Header
		for _, h := range rateHeaders(r, now, &hs) {
			got = append(got, kv{h.Name, h.Value})
		}
		if len(got) != len(want) {
			t.Errorf("%+v: headers %v, want %v", r, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%+v: headers %v, want %v", r, got, want)
				break
			}
		}
	}
}
