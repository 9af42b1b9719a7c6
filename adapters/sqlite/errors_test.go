package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A write that finds the file locked by another connection past the busy
// timeout is STORE_UNAVAILABLE (503, which makes the application read a
// commit back), not INTERNAL_ERROR; once the lock is gone it goes through.
func TestAWriteThatFindsTheFileLockedIsUnavailable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "focal.db")
	db := openWith(t, Config{Path: path, BusyTimeout: 20 * time.Millisecond}, clock.System{})
	tenants := NewTenants(db)

	other, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
	require.NoError(t, err, "another process takes the write lock")

	budget := ports.TenantBudget{TenantID: "t", MonthlyTokens: 1000, Month: "2026-03", SetAt: time.Now()}
	err = tenants.SetTenantBudget(ctx, budget)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a locked file answered %v", err)

	_, err = conn.ExecContext(ctx, `ROLLBACK`)
	require.NoError(t, err)
	require.NoError(t, tenants.SetTenantBudget(ctx, budget), "the write once the lock is gone")
}

// A call whose caller gave up, by cancelling or by a deadline that passed,
// is STORE_UNAVAILABLE, never INTERNAL_ERROR.
func TestACallWhoseContextEndedIsUnavailable(t *testing.T) {
	db := openWith(t, Config{Path: filepath.Join(t.TempDir(), "focal.db")}, clock.System{})
	tenants := NewTenants(db)
	expired, stop := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer stop()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for name, ctx := range map[string]context.Context{"deadline passed": expired, "cancelled": cancelled} {
		err := tenants.SetTenantBudget(ctx, ports.TenantBudget{TenantID: "t", MonthlyTokens: 1, Month: "2026-03", SetAt: time.Now()})
		require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a write, %s, answered %v", name, err)
		_, err = tenants.TenantBudget(ctx, "t")
		require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a read, %s, answered %v", name, err)
	}
}
