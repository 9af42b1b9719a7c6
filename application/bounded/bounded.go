// Package bounded is a least-recently-used cache bounded by its entries'
// count and by their total weight, for values whose sizes differ by orders
// of magnitude (one agent's policy may be a thousand times another's), so a
// count alone would not bound memory.
package bounded

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache holds at most maxEntries values whose weights add up to at most
// maxWeight, dropping the least recently used first. A value heavier than
// maxWeight is not kept at all. Safe for concurrent use.
type Cache[K comparable, V any] struct {
	// newest is the most recently used entry, or nil: a Get of its key
	// finds it without the lock, since moving it to the front would change
	// nothing. Every turn gets its agent's policy and compiled policy,
	// usually the newest each (one agent busy, or the same one again), and
	// the lock they took was a line both cores' turns wrote.
	newest    atomic.Pointer[entry[K, V]]
	mu        sync.Mutex
	lru       *simplelru.LRU[K, *entry[K, V]]
	weigh     func(V) int64
	weight    int64
	maxWeight int64
}

// entry is a value kept, never changed once kept.
type entry[K comparable, V any] struct {
	key    K
	value  V
	weight int64
}

// New returns an empty cache; weigh gives a value's weight (bytes, say).
func New[K comparable, V any](maxEntries int, maxWeight int64, weigh func(V) int64) (*Cache[K, V], error) {
	c := &Cache[K, V]{weigh: weigh, maxWeight: maxWeight}
	l, err := simplelru.NewLRU[K, *entry[K, V]](maxEntries, func(_ K, e *entry[K, V]) {
		c.weight -= e.weight
		c.newest.CompareAndSwap(e, nil) // the front is now another, unknown here
	})
	if err != nil {
		return nil, err
	}
	c.lru = l
	return c, nil
}

// Get returns the value of key and marks it recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	if e := c.newest.Load(); e != nil && e.key == key {
		return e.value, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if !ok {
		var zero V
		return zero, false
	}
	c.markNewest(e)
	return e.value, true
}

// markNewest records e, under c.mu, as the most recently used entry;
// unchanged, it is not written again.
func (c *Cache[K, V]) markNewest(e *entry[K, V]) {
	if c.newest.Load() != e {
		c.newest.Store(e)
	}
}

// Add stores value under key, then drops least recently used values until
// the weights fit again. It reports whether value was kept.
func (c *Cache[K, V]) Add(key K, value V) bool {
	w := c.weigh(value)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key) // a replaced value's weight goes with it
	if w > c.maxWeight {
		return false
	}
	e := &entry[K, V]{key: key, value: value, weight: w}
	c.lru.Add(key, e)
	c.weight += w
	c.markNewest(e)
	for c.weight > c.maxWeight {
		c.lru.RemoveOldest()
	}
	return true
}

// Remove drops key's value.
func (c *Cache[K, V]) Remove(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
}

// Len is the number of values held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Weight is the total weight of the values held.
func (c *Cache[K, V]) Weight() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.weight
}
