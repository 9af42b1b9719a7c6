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
