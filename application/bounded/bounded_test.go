package bounded

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newCache(t *testing.T, entries int, weight int64) *Cache[string, string] {
	t.Helper()
	c, err := New[string, string](entries, weight, func(s string) int64 { return int64(len(s)) })
	require.NoError(t, err)
	return c
}

func TestCacheBoundsTheTotalWeight(t *testing.T) {
	c := newCache(t, 100, 10)
	c.Add("a", "aaaa")
	c.Add("b", "bbbb")
	_, _ = c.Get("a") // a is now the most recently used
	c.Add("c", "cccc")
	assert.Equal(t, int64(8), c.Weight())
	_, ok := c.Get("b")
	assert.False(t, ok, "the least recently used value made room")
	_, ok = c.Get("a")
	assert.True(t, ok)

	assert.False(t, c.Add("huge", "xxxxxxxxxxxx"), "a value heavier than the whole cache is not kept")
	assert.Equal(t, 2, c.Len())

	c.Add("a", "a") // replacing frees the old weight
	assert.Equal(t, int64(5), c.Weight())
	c.Remove("c")
	assert.Equal(t, int64(1), c.Weight())
}

func TestCacheBoundsTheCount(t *testing.T) {
	c := newCache(t, 3, 1<<20)
	for i := range 10 {
		c.Add(strconv.Itoa(i), "v")
	}
	assert.Equal(t, 3, c.Len())
	assert.Equal(t, int64(3), c.Weight())
}

// A Get of the most recently used key, answered without the lock, finds
// what a locked one would: the value last added, nothing once removed or
// dropped, and the order of use still decides what is dropped.
func TestCacheNewestAnswersAsTheList(t *testing.T) {
	c := newCache(t, 2, 1<<20)
	c.Add("a", "1")
	c.Add("b", "2")
	for range 3 {
		v, ok := c.Get("a")
		require.True(t, ok)
		assert.Equal(t, "1", v)
	}
	c.Add("c", "3") // b is the least recently used
	_, ok := c.Get("b")
	assert.False(t, ok)

	c.Add("c", "4")
	v, _ := c.Get("c")
	assert.Equal(t, "4", v, "a replaced value")
	c.Remove("c")
	_, ok = c.Get("c")
	assert.False(t, ok, "a removed value")

	c.Add("d", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	v, _ = c.Get("a")
	assert.Equal(t, "1", v)
	w := newCache(t, 10, 4)
	w.Add("e", "eeee")
	w.Add("f", "ffff") // e goes for the weight
	_, ok = w.Get("e")
	assert.False(t, ok)
	w.Add("f", "fffffffff") // too heavy: not kept, the old value gone too
	_, ok = w.Get("f")
	assert.False(t, ok)
}

// BenchmarkCacheGetParallel is every core's turns getting one agent's
// policy, as a busy agent's do: with -cpu 2 a lock every Get takes
// bounces between the cores.
func BenchmarkCacheGetParallel(b *testing.B) {
	c, err := New[string, string](16, 1<<20, func(s string) int64 { return int64(len(s)) })
	if err != nil {
		b.Fatal(err)
	}
	c.Add("agent", "policy")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get("agent"); !ok {
				b.Error("missed")
				return
			}
		}
	})
}
