package observe

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// boundedValues admits what a set under a lock (the reference, as it was)
// admits: the first max distinct values, each again afterwards, and
// "other" for the rest.
func TestBoundedValuesAdmitAsTheReference(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 5))
		max := 1 + rnd.IntN(8)
		b := newBoundedValues(max)
		seen := map[string]bool{}
		for i := range 500 {
			v := fmt.Sprint("model-", rnd.IntN(3*max))
			want := v
			if !seen[v] && len(seen) >= max {
				want = otherLabel
			} else {
				seen[v] = true
			}
			require.Equal(t, want, b.admit(v), "seed %d, call %d", seed, i)
		}
	}
}

// Values admitted at once from many goroutines are at most max, and each
// goroutine's admitted values stay admitted.
func TestBoundedValuesAdmitAtMostMaxConcurrently(t *testing.T) {
	const max = 5
	b := newBoundedValues(max)
	var mu sync.Mutex
	admitted := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := fmt.Sprint("model-", (g*7+i)%20)
				if got := b.admit(v); got != otherLabel {
					mu.Lock()
					admitted[got] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, admitted, max)
	for v := range admitted {
		require.Equal(t, v, b.admit(v))
	}
}

// lockedValues is boundedValues as it was, read under an RWMutex: the
// benchmark's reference.
type lockedValues struct {
	mu   sync.RWMutex
	seen map[string]bool
}

func (b *lockedValues) admit(v string) string {
	b.mu.RLock()
	ok := b.seen[v]
	b.mu.RUnlock()
	if ok {
		return v
	}
	return otherLabel
}

// BenchmarkBoundedValuesAdmitParallel is every core's turns admitting
// their model, against the RWMutex it replaced.
func BenchmarkBoundedValuesAdmitParallel(b *testing.B) {
	b.Run("rwmutex", func(b *testing.B) {
		l := &lockedValues{seen: map[string]bool{"gpt-4o-mini": true}}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.admit("gpt-4o-mini")
			}
		})
	})
	b.Run("copied", func(b *testing.B) {
		l := newBoundedValues(maxModelLabels)
		l.admit("gpt-4o-mini")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.admit("gpt-4o-mini")
			}
		})
	})
}
