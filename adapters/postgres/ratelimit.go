package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// RateLimits implements ports.RateLimiter on PostgreSQL: fixed windows
// aligned to the Unix epoch, one counter row per key and window, counted by
// one upsert that increments it while it is within the limit (the row lock
// serializes concurrent requests across every instance). A request finding
// the window full is refused without another write; once this process saw
// a window full, it refuses without a statement until the window ends
// (sqlkit.Windows).
//
// A take whose connection was lost is sent again, though it is not
// idempotent: the lost send may have counted (a client cannot tell a
// command dropped before the server read it from one dropped after), so
// the window may count the request once more for each such loss. That
// errs on the side a limiter may err on, refusing a request early in one
// window, instead of answering 503; making it exact would cost a
// per-request id stored and checked on every take.
type RateLimits struct {
	db      *DB
	windows *sqlkit.Windows
}

var _ ports.RateLimiter = (*RateLimits)(nil)

// NewRateLimits returns the rate limiter of db.
func NewRateLimits(db *DB) *RateLimits { return &RateLimits{db: db, windows: sqlkit.NewWindows()} }

// $1 key, $2 window start, $3 expires_ns, $4 limit.
const sqlTakeRate = `-- take rate
INSERT INTO rate_windows AS w (key, window_start, count, expires_ns) VALUES ($1, $2, 1, $3)
ON CONFLICT (key, window_start) DO UPDATE SET count = w.count + 1 WHERE w.count < $4
RETURNING count`

// TakeRate implements ports.RateLimiter.
func (r *RateLimits) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	return r.windows.Take(r.db.clock.Now(), key, limit, window, func(start time.Time, expiresNS int64) (int, error) {
		ctx, cancel := r.db.op(ctx)
		defer cancel()
		var count int
		err := retryIdempotent(ctx, func() error { // may over-count: see RateLimits
			return r.db.pool.QueryRow(ctx, sqlTakeRate, key, start.UnixNano(), expiresNS, limit).Scan(&count)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return limit + 1, nil // the window is full: the upsert left it as it was
		}
		return count, fail(err, "take rate")
	})
}
