package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// RateLimits implements ports.RateLimiter on SQLite: fixed windows aligned
// to the Unix epoch, one counter row per key and window, counted by one
// upsert that increments it while it is within the limit. Once this
// process saw a window full, it refuses without a write until the window
// ends.
type RateLimits struct {
	db   *DB
	full *lru.Cache[string, int64] // key and limit → start of the window seen full
}

var _ ports.RateLimiter = (*RateLimits)(nil)

const (
	rateKeys  = 100_000
	rateGrace = time.Minute
)

// NewRateLimits returns the rate limiter of db.
func NewRateLimits(db *DB) *RateLimits {
	c, _ := lru.New[string, int64](rateKeys)
	return &RateLimits{db: db, full: c}
}

const sqlTakeRate = `INSERT INTO rate_windows (key, window_start, count, expires_ns) VALUES (?1, ?2, 1, ?3)
ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 WHERE count < ?4
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
	var count int
	err := r.db.write(ctx, "take rate", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, sqlTakeRate, key, start.UnixNano(), start.Add(window+rateGrace).UnixNano(), limit).Scan(&count)
		if errors.Is(err, sql.ErrNoRows) {
			count, err = limit+1, nil // full: the upsert left it as it was
		}
		return err
	})
	if err != nil {
		return ports.RateDecision{}, err
	}
	if count >= limit {
		r.full.Add(full, start.UnixNano())
	}
	return sqlkit.RateDecision(now, start, window, limit, count), nil
}
