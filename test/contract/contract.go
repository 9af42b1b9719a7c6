// Package contract is the conformance suite of Focal's store ports:
// ports.PolicyStore, ports.SessionStore, ports.TurnStore and
// ports.SessionLocker. Every adapter in this repository runs it, and a third
// party can run it against its own adapter from an ordinary test:
//
//	func TestMyStore(t *testing.T) {
//		contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
//			s := mystore.Open(t.Context(), "test-"+uuid.NewString())
//			t.Cleanup(func() { _ = s.Drop(context.Background()) })
//			return contract.Stores{
//				Policies: s, Sessions: s, Turns: s, Locker: s,
//				Features: contract.Features{FIFOLease: false}, // waiters poll
//			}
//		})
//	}
//
// The factory is called once per test case and should return empty stores
// (the suite also uses fresh tenant and session ids everywhere, so a
// shared store works too). The suite uses real time and keeps every wait
// short (lease TTLs of a few hundred milliseconds); its code is safe under
// -race. Features declares honest differences between backends: a case
// that needs a feature the backend does not promise checks the weaker
// guarantee instead of failing.
package contract

import (
	"testing"

	"focal/ports"
)

// Stores are the ports under test. One value may implement all four.
type Stores struct {
	Policies ports.PolicyStore
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Locker   ports.SessionLocker
	Features Features
}

// Features declares what a backend promises beyond the ports' minimum.
type Features struct {
	// FIFOLease: waiters for a busy session lease get it in the order they
	// asked. Backends that wait by polling cannot promise it; the suite then
	// only checks that every waiter gets the lease in turn.
	FIFOLease bool
}

// RunStoreSuite runs every conformance case against the stores factory
// returns.
func RunStoreSuite(t *testing.T, factory func(t *testing.T) Stores) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"PolicyStore", policyCases},
		{"SessionStore", sessionCases},
		{"TurnStore", turnCases},
		{"SessionLocker", lockerCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					s := factory(t)
					if s.Policies == nil || s.Sessions == nil || s.Turns == nil || s.Locker == nil {
						t.Fatal("contract: the factory must return all four stores")
					}
					c.run(t, newFixture(t, s))
				})
			}
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, f *fixture)
}
