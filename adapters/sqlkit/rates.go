package sqlkit

import (
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"focal/domain"
	"focal/ports"
)

// Windows decides rate requests in fixed windows aligned to the Unix
// epoch, one counter row per key and window in the store. It remembers
// the windows this process saw full, so a request in one is refused
// without a statement until the window ends. It is safe for concurrent
// use.
type Windows struct {
	full *lru.Cache[string, int64] // key and limit → start of the window seen full
}

// rateKeys bounds the full windows remembered.
const rateKeys = 100_000

// RateGrace keeps a window's row this long after its end, for the sweep.
const RateGrace = time.Minute

// NewWindows returns a Windows that has seen no window full.
func NewWindows() *Windows {
	c, _ := lru.New[string, int64](rateKeys)
	return &Windows{full: c}
}

// Take decides the request of key at now against limit per window. count
// is the store's one statement: it counts the request in the window that
// starts at start (its row kept until expiresNS) while the window holds
// fewer than limit, and returns the window's count, or limit+1 when it
// was full.
func (w *Windows) Take(now time.Time, key string, limit int, window time.Duration,
	count func(start time.Time, expiresNS int64) (int, error)) (ports.RateDecision, error) {
	if window <= 0 {
		return ports.RateDecision{}, domain.InvalidFields(domain.FieldError{Field: "window", Message: "must be positive"})
	}
	start := WindowStart(now, window)
	if limit < 1 {
		return RateDecision(now, start, window, limit, 1), nil
	}
	full := key + "\x00" + strconv.Itoa(limit)
	if seen, ok := w.full.Get(full); ok && seen == start.UnixNano() {
		return RateDecision(now, start, window, limit, limit+1), nil
	}
	n, err := count(start, start.Add(window+RateGrace).UnixNano())
	if err != nil {
		return ports.RateDecision{}, err
	}
	if n >= limit {
		w.full.Add(full, start.UnixNano())
	}
	return RateDecision(now, start, window, limit, n), nil
}
