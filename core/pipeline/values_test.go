package pipeline

import (
	"fmt"
	"testing"
)

type testKey int

// Set and Value keep every key's latest value, however many keys a call holds (the first few are kept in
// place, the rest in a map).
func TestCallValues(t *testing.T) {
	for _, n := range []int{0, 1, 5, 6, 7, 20} {
		c := &Call{}
		for i := range n {
			c.Set(testKey(i), fmt.Sprint("v", i))
			c.Set(fmt.Sprint("k", i), i)
		}
		for i := range n {
			if i%3 == 0 {
				c.Set(testKey(i), fmt.Sprint("w", i))
			}
		}
		for i := range n {
			want := fmt.Sprint("v", i)
			if i%3 == 0 {
				want = fmt.Sprint("w", i)
			}
			if got := c.Value(testKey(i)); got != want {
				t.Errorf("%d keys: Value(testKey(%d)) = %v, want %s", 2*n, i, got, want)
			}
			if got := c.Value(fmt.Sprint("k", i)); got != i {
				t.Errorf("%d keys: Value(%q) = %v, want %d", 2*n, fmt.Sprint("k", i), got, i)
			}
		}
		if got := c.Value(testKey(n)); got != nil {
			t.Errorf("%d keys: a key never set has %v", 2*n, got)
		}
		if c.nvals > len(c.inline) || (2*n > len(c.inline)) != (len(c.values) > 0) ||
			len(c.values) > max(0, 2*n-len(c.inline)) {
			t.Errorf("%d keys: %d in place, %d in the map", 2*n, c.nvals, len(c.values))
		}
	}
}

// setHeaderOracle is what setting a header means, written plainly: the earlier header of its name replaced in
// place, or the header added at the end.
func setHeaderOracle(hs []Header, h Header) []Header {
	for i := range hs {
		if hs[i].Name == h.Name {
			hs[i].Value = h.Value
			return hs
		}
	}
	return append(hs, h)
}

// TestSetHeaders checks setting headers one by one (SetHeader) and in a batch (SetHeaders) against the oracle:
// the same names, values and order, earlier headers of the same names replaced in place, with one allocation
// for a batch.
func TestSetHeaders(t *testing.T) {
	for _, before := range [][]Header{nil, {{"a", "0"}}, {{"x-b", "0"}, {"a", "1"}, {"c", "2"}}, {{"x-d", "0"}, {"x-e", "0"}}} {
		for _, batch := range [][]Header{nil, {{"x-b", "b"}}, {{"x-b", "b"}, {"x-d", "d"}, {"x-e", "e"}, {"x-f", "f"}}} {
			var one, many Call
			var want []Header
			for _, h := range before {
				one.SetHeader(h.Name, h.Value)
				many.SetHeader(h.Name, h.Value)
				want = setHeaderOracle(want, h)
			}
			for _, h := range batch {
				one.SetHeader(h.Name, h.Value)
				want = setHeaderOracle(want, h)
			}
			allocs := testing.AllocsPerRun(1, func() { many.SetHeaders(batch...) })
			if fmt.Sprint(one.Headers()) != fmt.Sprint(want) {
				t.Errorf("%v then %v: SetHeader one by one gave %v, want %v", before, batch, one.Headers(), want)
			}
			if fmt.Sprint(many.Headers()) != fmt.Sprint(want) {
				t.Errorf("%v then %v: SetHeaders gave %v, want %v", before, batch, many.Headers(), want)
			}
			if allocs > 1 {
				t.Errorf("%v then %v: %v allocations, want at most 1", before, batch, allocs)
			}
			// A batch on a call without headers leaves room for the ones later stages add (the router's two).
			if n := len(many.Headers()); before == nil && len(batch) > 0 && cap(many.Headers()) < n+2 {
				t.Errorf("%v then %v: %d headers in a capacity of %d", before, batch, n, cap(many.Headers()))
			}
		}
	}
}
