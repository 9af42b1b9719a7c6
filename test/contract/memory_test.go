package contract_test

import (
	"testing"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/test/contract"
)

func TestMemoryStore(t *testing.T) {
	contract.RunStoreSuite(t, func(*testing.T) contract.Stores {
		s := memory.New(clock.System{})
		return contract.Stores{
			Policies: s, Sessions: s, Turns: s, Locker: s,
			Idempotency: s, Rates: memory.NewRateLimiter(clock.System{}),
			// A released lease passes straight to the longest waiter.
			Features: contract.Features{FIFOLease: true},
			Waiting:  func(_, sessionID string) int { return s.LeaseWaiters(sessionID) },
		}
	})
}
