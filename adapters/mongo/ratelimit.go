package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Rate limits, shared by every instance.
//
// Requests are counted in fixed windows of the configured length, aligned
// to the Unix epoch, so every instance agrees on where a window starts. A
// request is allowed when it takes one of the window's `limit` slots, and a
// slot is taken by inserting the document key/windowStart/n into
// rate_slots: insert-once, so no slot is ever taken twice and no window
// allows more than `limit`, across all instances.
//
// Slots are taken from the bottom without gaps, so "slot n is taken" means
// all below it are too, and a caller can start from an estimate: each
// process remembers, per key, the next slot it expects to be free, and
// hands different candidates to its concurrent callers, so callers of one
// instance never collide with each other. A duplicate key means another
// instance took that slot; the caller then reads the window's highest slot
// (one indexed read) and goes on above it. A caller whose candidate is
// beyond the limit is refused without a round trip: the window is full,
// and slots are never freed within a window.
//
// Round trips: one insert for an allowed request; none for a refusal once
// this process has seen the window full; two more per collision with
// another instance. A candidate whose insert failed (not a duplicate) is
// handed out again, so failures do not shrink the allowance; one that did
// land before its caller gave up counts as the request it was (the HTTP
// layer lets a request through when the limiter fails).
//
// Slots expire at the window's end plus rateSlotGrace (TTL index where the
// server has one); reads only ever look at the current window.

const (
	rateSlotGrace = time.Minute
	// rateKeys bounds the keys whose next slot a process remembers; a
	// forgotten key costs one collision and one read to find its place.
	rateKeys = 100_000
	// maxRateKey is the longest key kept as is in slot ids; longer keys
	// are hashed.
	maxRateKey = 200
)

type rateSlotDoc struct {
	ID          string    `bson:"_id"`
	Key         string    `bson:"key"`
	WindowStart int64     `bson:"window_start"`
	Slot        int       `bson:"slot"`
	ExpiresAt   time.Time `bson:"expires_at"` // for the TTL index
}

// rateCache is this process's estimate of each key's next free slot.
type rateCache struct {
	mu      sync.Mutex
	entries *lru.Cache[string, *rateEntry]
}

type rateEntry struct {
	start, length int64 // the window, in Unix nanoseconds
	next          int   // the next candidate never handed out
	spare         []int // candidates handed back after a failed insert
}

func newRateCache() *rateCache {
	c, _ := lru.New[string, *rateEntry](rateKeys)
	return &rateCache{entries: c}
}

// entry returns key's entry for the window, fresh when the window moved on.
// The caller holds c.mu.
func (c *rateCache) entry(key string, start, length int64) *rateEntry {
	e, ok := c.entries.Get(key)
	if !ok || e.start != start || e.length != length {
		e = &rateEntry{start: start, length: length, next: 1}
		c.entries.Add(key, e)
	}
	return e
}

// reserve hands out a candidate slot no other caller of this process holds;
// false when every slot up to limit is known taken.
func (c *rateCache) reserve(key string, start, length int64, limit int) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key, start, length)
	for len(e.spare) > 0 {
		n := e.spare[len(e.spare)-1]
		e.spare = e.spare[:len(e.spare)-1]
		if n <= limit {
			return n, true
		}
	}
	if e.next > limit {
		return 0, false
	}
	e.next++
	return e.next - 1, true
}

// giveBack returns a candidate whose insert failed.
func (c *rateCache) giveBack(key string, start, length int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key, start, length)
	e.spare = append(e.spare, n)
}

// raise moves the estimate above slot top, known taken.
func (c *rateCache) raise(key string, start, length int64, top int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key, start, length)
	e.next = max(e.next, top+1)
}

func rateKeyOf(key string) string {
	if len(key) <= maxRateKey {
		return key
	}
	h := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(h[:])
}

// TakeRate implements ports.RateLimiter.
func (s *Store) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	if window <= 0 {
		return ports.RateDecision{}, domain.InvalidFields(domain.FieldError{Field: "window", Message: "must be positive"})
	}
	key = rateKeyOf(key)
	length := window.Nanoseconds()
	for {
		now := s.clock.Now()
		start := now.UnixNano() / length * length
		end := time.Unix(0, start+length)
		n, err := s.takeSlot(ctx, key, start, length, limit, end)
		if err != nil {
			return ports.RateDecision{}, err
		}
		if n > 0 {
			return ports.RateDecision{Allowed: true, Limit: limit, Remaining: limit - n, Reset: end}, nil
		}
		now = s.clock.Now()
		if now.Before(end) {
			return ports.RateDecision{Limit: limit, Reset: end, RetryAfter: end.Sub(now)}, nil
		}
		// The window ended while we counted: count in the new one.
	}
}

// takeSlot takes a free slot of the window, 0 when there is none.
func (s *Store) takeSlot(ctx context.Context, key string, start, length int64, limit int, end time.Time) (int, error) {
	prefix := key + "/" + strconv.FormatInt(start, 10) + "/"
	for {
		n, ok := s.rateCache.reserve(key, start, length, limit)
		if !ok {
			return 0, nil
		}
		won, err := s.insertOnce(ctx, s.rateSlots, rateSlotDoc{ID: prefix + strconv.Itoa(n), Key: key,
			WindowStart: start, Slot: n, ExpiresAt: end.Add(rateSlotGrace)}, "take a rate slot")
		if err != nil {
			s.rateCache.giveBack(key, start, length, n)
			return 0, err
		}
		if won {
			return n, nil
		}
		// Another instance took it: find where the window stands.
		top, err := s.topSlot(ctx, key, start)
		if err != nil {
			return 0, err
		}
		s.rateCache.raise(key, start, length, max(top, n))
	}
}

// topSlot returns the window's highest taken slot.
func (s *Store) topSlot(ctx context.Context, key string, start int64) (int, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc rateSlotDoc
	err := s.rateSlots.FindOne(ctx, bson.D{{Key: "key", Value: key}, {Key: "window_start", Value: start}},
		options.FindOne().SetSort(bson.D{{Key: "slot", Value: -1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "slot", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "read rate slots")
	}
	return doc.Slot, nil
}
