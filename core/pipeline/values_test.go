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
