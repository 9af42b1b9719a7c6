package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/sqlkit"
	"focal/ports"
)

// A restart opens the file its last run left: the migrations applied then
// are not applied again, each is recorded once, and what was stored is
// still there.
func TestARestartKeepsTheSchemaAndTheData(t *testing.T) {
	ctx := t.Context()
	cfg := Config{Path: filepath.Join(t.TempDir(), "focal.db")}
	first, err := Connect(ctx, cfg, clock.System{}, nil)
	require.NoError(t, err)
	budget := ports.TenantBudget{TenantID: "t", MonthlyTokens: 1000, Month: "2026-03", SetAt: time.Now()}
	require.NoError(t, NewTenants(first).SetTenantBudget(ctx, budget))
	require.NoError(t, first.Close(context.Background()))

	db := openWith(t, cfg, clock.System{})
	got, err := NewTenants(db).TenantBudget(ctx, "t")
	require.NoError(t, err, "the budget stored before the restart")
	require.Equal(t, budget.MonthlyTokens, got.MonthlyTokens)

	all, err := sqlkit.Migrations(migrationFiles)
	require.NoError(t, err)
	rows, err := db.Readers().QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	applied, err := sqlkit.Collect(rows, sqlkit.ScanInt)
	require.NoError(t, err)
	var want []int
	for _, m := range all {
		want = append(want, m.Version)
	}
	require.Equal(t, want, applied, "each migration recorded once")
}
