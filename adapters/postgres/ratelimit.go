package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// RateLimits implements ports.RateLimiter on PostgreSQL: fixed windows
// aligned to the Unix epoch, one counter row per key and window, counted by
// one upsert that increments it while it is within the limit (the row lock
// serializes concurrent requests across every instance). A request finding
// the window full is refused without another write; once this process saw
// a window full, it refuses without a statement until the window ends.
type RateLimits struct {
	db   *DB
	full *lru.Cache[string, int64] // key and limit → start of the window seen full
}

var _ ports.RateLimiter = (*RateLimits)(nil)

// rateKeys bounds the full windows remembered.
const rateKeys = 100_000

// rateGrace keeps a window's row this long after its end, for the sweep.
const rateGrace = time.Minute

// NewRateLimits returns the rate limiter of db.
func NewRateLimits(db *DB) *RateLimits {
	c, _ := lru.New[string, int64](rateKeys)
	return &RateLimits{db: db, full: c}
}

// $1 key, $2 window start, $3 expires_ns, $4 limit.
const sqlTakeRate = `-- take rate
INSERT INTO rate_windows AS w (key, window_start, count, expires_ns) VALUES ($1, $2, 1, $3)
ON CONFLICT (key, window_start) DO UPDATE SET count = w.count + 1 WHERE w.count < $4
RETURNING count`

// TakeRate implements ports.RateLimiter.
func (r *RateLimits) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	now := r.db.clock.Now()
	if window <= 0 {
		return ports.RateDecision{}, domain.InvalidFields(domain.FieldError{Field: "window", Message: "must be positive"})
	}
	start := sqlkit.WindowStart(now, window)
	if limit < 1 {
		return sqlkit.RateDecision(now, start, window, limit, 1), nil
	}
	full := key + "\x00" + strconv.Itoa(limit)
	if seen, ok := r.full.Get(full); ok && seen == start.UnixNano() {
		return sqlkit.RateDecision(now, start, window, limit, limit+1), nil
	}
	ctx, cancel := r.db.op(ctx)
	defer cancel()
	var count int
	err := retry(ctx, func() error {
		return r.db.pool.QueryRow(ctx, sqlTakeRate, key, start.UnixNano(), start.Add(window+rateGrace).UnixNano(), limit).Scan(&count)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		count = limit + 1 // the window is full: the upsert left it as it was
		err = nil
	}
	if err != nil {
		return ports.RateDecision{}, fail(err, "take rate")
	}
	if count >= limit {
		r.full.Add(full, start.UnixNano())
	}
	return sqlkit.RateDecision(now, start, window, limit, count), nil
}
