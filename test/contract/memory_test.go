package contract_test

import (
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/test/contract"
)

func TestMemoryStore(t *testing.T) {
	contract.RunStoreSuite(t, func(*testing.T) contract.Stores {
		s := memory.New(clock.System{})
		keys, budgets := memory.NewTenantModelKeys(), memory.NewBudgets()
		return contract.Stores{
			Policies: s, Sessions: s, Turns: s, Locker: s,
			Idempotency: s, Rates: memory.NewRateLimiter(clock.System{}), PolicyHistory: s,
			TenantKeys: keys, Budgets: budgets, Usage: memory.NewUsage(), Tenants: memory.NewTenantList(s, keys, budgets),
			// A released lease passes straight to the longest waiter.
			Features: contract.Features{FIFOLease: true, LazySession: true, Retention: retainingMemory},
			Waiting:  func(_, sessionID string) int { return s.LeaseWaiters(sessionID) },
		}
	})
}

func retainingMemory(_ *testing.T, r contract.Retention) contract.Retaining {
	s := memory.New(clock.System{}, memory.WithRetention(memory.Retention{SessionTTL: r.SessionTTL, MaxTurns: r.MaxTurns, SweepInterval: time.Minute}))
	return contract.Retaining{
		Stores: contract.Stores{Policies: s, Sessions: s, Turns: s, Locker: s, Idempotency: s, Rates: memory.NewRateLimiter(clock.System{}),
			Waiting: func(_, sessionID string) int { return s.LeaseWaiters(sessionID) }},
		Sweep: func(now time.Time) { s.Sweep(now) },
	}
}
