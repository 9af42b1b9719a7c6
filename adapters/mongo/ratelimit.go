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
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Rate limits, shared by every instance.
//
// Requests are counted in fixed windows of the configured length, aligned
// to the Unix epoch, so every instance agrees on where a window starts.
//
// On MongoDB a window is one counter document, key/windowStart, and a
// request is one findAndModify that increments it (creating it at 1) and
// returns the new count: allowed while the count is within the limit.
// Concurrent increments are serialized by the server, so no window allows
// more than `limit`, across all instances, in one command per request.
//
// Servers that lose concurrent $inc (FerretDB) count by taking slots
// instead: a request is allowed when it takes one of the window's `limit`
// slots, and a slot is taken by inserting the document key/windowStart/n
// into rate_slots, insert-once, so no slot is ever taken twice. Slots are
// taken from the bottom without gaps, and each process remembers per key
// the next slot it expects to be free and hands different candidates to
// its concurrent callers; a duplicate key means another instance took that
// slot, and the caller reads the window's highest slot (one indexed read,
// a workaround) and goes on above it.
//
// Either way a caller is refused without a round trip once this process
// saw the window full: counts never fall within a window.
//
// Windows expire at their end plus rateGrace (TTL index where the server
// has one); reads only ever look at the current window.

// RateLimits implements ports.RateLimiter on MongoDB.
type RateLimits struct{ db *DB }

var _ ports.RateLimiter = (*RateLimits)(nil)

// NewRateLimits returns the rate limiter of db.
func NewRateLimits(db *DB) *RateLimits { return &RateLimits{db: db} }

const (
	rateGrace = time.Minute
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

// full reports whether this process saw the window full.
func (c *rateCache) full(key string, start, length int64, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(key)
	return ok && e.start == start && e.length == length && e.next > limit
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
func (rl *RateLimits) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	if window <= 0 {
		return ports.RateDecision{}, domain.InvalidFields(domain.FieldError{Field: "window", Message: "must be positive"})
	}
	key = rateKeyOf(key)
	length := window.Nanoseconds()
	for {
		now := rl.db.clock.Now()
		start := now.UnixNano() / length * length
		end := time.Unix(0, start+length)
		n, err := rl.take(ctx, key, start, length, limit, end)
		if err != nil {
			return ports.RateDecision{}, err
		}
		if n > 0 {
			return ports.RateDecision{Allowed: true, Limit: limit, Remaining: limit - n, Reset: end}, nil
		}
		now = rl.db.clock.Now()
		if now.Before(end) {
			return ports.RateDecision{Limit: limit, Reset: end, RetryAfter: end.Sub(now)}, nil
		}
		// The window ended while we counted: count in the new one.
	}
}

// take counts one request in the window: its position (from 1), or 0
// when the window is full.
func (rl *RateLimits) take(ctx context.Context, key string, start, length int64, limit int, end time.Time) (int, error) {
	if rl.db.caps.atomicUpdates {
		return rl.count(ctx, key, start, length, limit, end)
	}
	return rl.takeSlot(ctx, key, start, length, limit, end)
}

// rateCount is the _id and update of a window's counter: one more
// request, the window's fields set when it is created.
func rateCount(key string, start int64, end time.Time) (string, bson.D) {
	return key + "/" + strconv.FormatInt(start, 10), bson.D{
		{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "key", Value: key}, {Key: "window_start", Value: start},
			{Key: "expires_at", Value: end.Add(rateGrace)}}},
	}
}

type rateWindowDoc struct {
	N int `bson:"n"`
}

// count increments the window's counter (MongoDB). A count past the limit
// tells this process the window is full; later callers are refused
// without a round trip.
func (rl *RateLimits) count(ctx context.Context, key string, start, length int64, limit int, end time.Time) (int, error) {
	db := rl.db
	if rl.db.rates.full(key, start, length, limit) {
		return 0, nil
	}
	id, update := rateCount(key, start, end)
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "n", Value: 1}})
	var doc rateWindowDoc
	var err error
	// Two first requests of a window both upsert; the loser meets the
	// winner's _id once, and increments it on its second try.
	for range 2 {
		cctx, cancel := db.op(ctx)
		err = db.rateWindows.FindOneAndUpdate(cctx, bson.D{{Key: "_id", Value: id}}, update, opts).Decode(&doc)
		cancel()
		if !duplicate(err) {
			break
		}
	}
	if err != nil {
		// A lost answer may have counted this request; the caller lets a
		// request through when the limiter fails, so it is counted once.
		return 0, fail(err, "count a request")
	}
	if doc.N > limit {
		rl.db.rates.raise(key, start, length, limit)
		return 0, nil
	}
	return doc.N, nil
}

// takeSlot takes a free slot of the window, 0 when there is none (servers
// without atomic $inc).
func (rl *RateLimits) takeSlot(ctx context.Context, key string, start, length int64, limit int, end time.Time) (int, error) {
	db := rl.db
	prefix := key + "/" + strconv.FormatInt(start, 10) + "/"
	for {
		n, ok := db.rates.reserve(key, start, length, limit)
		if !ok {
			return 0, nil
		}
		slot := rateSlotDoc{ID: prefix + strconv.Itoa(n), Key: key, WindowStart: start, Slot: n, ExpiresAt: end.Add(rateGrace)}
		won, err := db.insertOnce(ctx, db.rateSlots, slot, "take a rate slot", readBack{})
		if err != nil {
			db.rates.giveBack(key, start, length, n)
			return 0, err
		}
		if won {
			return n, nil
		}
		// Another instance took it: find where the window stands.
		top, err := rl.topSlot(workaround(ctx), key, start)
		if err != nil {
			return 0, err
		}
		db.rates.raise(key, start, length, max(top, n))
	}
}

// topSlot returns the window's highest taken slot.
func (rl *RateLimits) topSlot(ctx context.Context, key string, start int64) (int, error) {
	ctx, cancel := rl.db.op(ctx)
	defer cancel()
	var doc rateSlotDoc
	err := rl.db.rateSlots.FindOne(ctx, bson.D{{Key: "key", Value: key}, {Key: "window_start", Value: start}},
		options.FindOne().SetSort(bson.D{{Key: "slot", Value: -1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "slot", Value: 1}})).Decode(&doc)
	if errors.Is(err, errNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fail(err, "read rate slots")
	}
	return doc.Slot, nil
}
