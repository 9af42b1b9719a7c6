package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/adapters/clock"
	"focal/adapters/sqlkit"
	"focal/test/contract"
)

// openDB opens a store on path, closed when the test ends.
func openDB(t *testing.T, path string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := Connect(ctx, Config{Path: path}, clock.System{}, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

type stores struct {
	policies *Policies
	sessions *Sessions
	turns    *Turns
	leases   *Leases
	keys     *IdempotencyKeys
	rates    *RateLimits
	tenants  *Tenants
}

func storesOf(db *DB) stores {
	return stores{NewPolicies(db), NewSessions(db), NewTurns(db), NewLeases(db), NewIdempotencyKeys(db), NewRateLimits(db), NewTenants(db)}
}

// The suite shares one file: every case uses fresh ids.
func TestStoreContract(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "focal.db"))
	contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
		s := storesOf(db)
		return contract.Stores{
			Policies: s.policies, Sessions: s.sessions, Turns: s.turns, Locker: s.leases,
			Idempotency: s.keys, Rates: s.rates, PolicyHistory: s.policies,
			TenantKeys: s.tenants, Budgets: s.tenants, Usage: s.tenants, Tenants: s.tenants,
			Features: contract.Features{FIFOLease: true, LazySession: true},
			Waiting:  func(tenantID, sessionID string) int { return db.waiters.Len(sqlkit.LeaseKey(tenantID, sessionID)) },
		}
	})
}
