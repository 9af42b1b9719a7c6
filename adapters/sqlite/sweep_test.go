package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/adapters/clock"
	"focal/ports"
)

// openWith opens a store of cfg on clk, closed when the test ends.
func openWith(t *testing.T, cfg Config, clk ports.Clock) *DB {
	t.Helper()
	db, err := Connect(t.Context(), cfg, clk, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	require.NoError(t, err, "open the test store")
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

// rowsOf counts the rows of table whose key column is key.
func rowsOf(t *testing.T, db *DB, table, column, key string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Readers().QueryRowContext(t.Context(), `SELECT count(*) FROM `+table+` WHERE `+column+` = ?`, key).Scan(&n))
	return n
}

// The sweep deletes the idempotency records that have expired and keeps
// every other: a live record, done or not, still answers its key after it.
func TestSweepDeletesOnlyExpiredIdempotencyRecords(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake()
	db := openWith(t, Config{Path: filepath.Join(t.TempDir(), "focal.db")}, clk)
	keys := NewIdempotencyKeys(db)
	now := clk.Now()
	claim := func(key string, expires time.Duration) {
		t.Helper()
		_, claimed, err := keys.ClaimIdempotencyKey(ctx, ports.IdempotencyRecord{TenantID: "t", Key: key, Fingerprint: "f",
			Owner: "o-" + key, Request: "r-" + key, TurnID: "turn-" + key, HeldUntil: now.Add(expires), ExpiresAt: now.Add(expires)})
		require.NoError(t, err)
		require.True(t, claimed, key)
	}
	claim("expired", time.Minute)
	claim("live", time.Hour)
	claim("done", time.Minute)
	require.NoError(t, keys.CompleteIdempotencyKey(ctx, "t", "done", "o-done", 200, nil, []byte("answer"), now.Add(time.Hour)))

	clk.Advance(2 * time.Minute)
	db.sweep()

	require.Zero(t, rowsOf(t, db, "idempotency_keys", "key", "expired"), "the expired record was kept")
	for _, key := range []string{"live", "done"} {
		rec, err := keys.GetIdempotencyKey(ctx, "t", key)
		require.NoError(t, err)
		require.NotNil(t, rec, "the sweep deleted the live record %q", key)
	}
}

// A rate window's row outlives its window: a sweep while the window runs
// keeps its count, so the sweep lets no request past the limit.
func TestSweepKeepsTheCountOfARunningRateWindow(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake()
	db := openWith(t, Config{Path: filepath.Join(t.TempDir(), "focal.db")}, clk)
	rates := NewRateLimits(db)
	take := func() bool {
		t.Helper()
		d, err := rates.TakeRate(ctx, "k", 2, time.Hour)
		require.NoError(t, err)
		return d.Allowed
	}
	clk.Advance(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now())) // the start of a window
	require.True(t, take(), "the first request of the window")
	clk.Advance(59*time.Minute + 30*time.Second)
	db.sweep()
	require.Equal(t, 1, rowsOf(t, db, "rate_windows", "key", "k"), "the sweep deleted the running window's row")
	require.True(t, take(), "the second request of the window")
	require.False(t, take(), "a third request in a window of 2 was allowed")

	clk.Advance(time.Hour + 2*time.Minute) // past the window and its grace
	db.sweep()
	require.Zero(t, rowsOf(t, db, "rate_windows", "key", "k"), "an ended window's row was kept")
}
