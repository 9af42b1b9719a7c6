package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// RateLimits implements ports.RateLimiter on SQLite: fixed windows aligned
// to the Unix epoch, one counter row per key and window, counted by one
// upsert that increments it while it is within the limit. Once this
// process saw a window full, it refuses without a write until the window
// ends (sqlkit.Windows).
type RateLimits struct {
	db      *DB
	windows *sqlkit.Windows
}

var _ ports.RateLimiter = (*RateLimits)(nil)

// NewRateLimits returns the rate limiter of db.
func NewRateLimits(db *DB) *RateLimits { return &RateLimits{db: db, windows: sqlkit.NewWindows()} }

const sqlTakeRate = `INSERT INTO rate_windows (key, window_start, count, expires_ns) VALUES (?1, ?2, 1, ?3)
ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 WHERE count < ?4
RETURNING count`

// TakeRate implements ports.RateLimiter.
func (r *RateLimits) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (ports.RateDecision, error) {
	return r.windows.Take(r.db.clock.Now(), key, limit, window, func(start time.Time, expiresNS int64) (int, error) {
		var count int
		err := r.db.write(ctx, "take rate", func(tx *sql.Tx) error {
			err := tx.QueryRowContext(ctx, sqlTakeRate, key, start.UnixNano(), expiresNS, limit).Scan(&count)
			if errors.Is(err, sql.ErrNoRows) {
				count, err = limit+1, nil // full: the upsert left it as it was
			}
			return err
		})
		return count, err
	})
}
