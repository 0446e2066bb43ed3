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

// TestSetHeaders checks that setting headers in a batch gives what setting them one by one gives (the oracle):
// the same names, values and order, earlier headers of the same names replaced in place, with one allocation.
func TestSetHeaders(t *testing.T) {
	for _, before := range [][]Header{nil, {{"a", "0"}}, {{"x-b", "0"}, {"a", "1"}, {"c", "2"}}, {{"x-d", "0"}, {"x-e", "0"}}} {
		for _, batch := range [][]Header{nil, {{"x-b", "b"}}, {{"x-b", "b"}, {"x-d", "d"}, {"x-e", "e"}, {"x-f", "f"}}} {
			var one, many Call
			for _, h := range before {
				one.SetHeader(h.Name, h.Value)
				many.SetHeader(h.Name, h.Value)
			}
			for _, h := range batch {
				one.SetHeader(h.Name, h.Value)
			}
			allocs := testing.AllocsPerRun(1, func() { many.SetHeaders(batch...) })
			if fmt.Sprint(many.Headers()) != fmt.Sprint(one.Headers()) {
				t.Errorf("%v then %v: SetHeaders gave %v, SetHeader one by one %v", before, batch, many.Headers(), one.Headers())
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
