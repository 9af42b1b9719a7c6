// Package contract is the conformance suite of Focal's store ports:
// ports.PolicyStore, ports.SessionStore, ports.TurnStore,
// ports.SessionLocker, ports.IdempotencyStore, ports.RateLimiter,
// ports.PolicyHistory, ports.TenantModelKeyStore, ports.BudgetStore,
// ports.UsageMeter and ports.TenantLister. Every
// adapter in this repository runs it, and a third party can run it against
// its own adapter from an ordinary test:
//
//	func TestMyStore(t *testing.T) {
//		contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
//			s := mystore.Open(t.Context(), "test-"+uuid.NewString())
//			t.Cleanup(func() { _ = s.Drop(context.Background()) })
//			return contract.Stores{
//				Policies: s, Sessions: s, Turns: s, Locker: s,
//				Idempotency: s, Rates: s, PolicyHistory: s, // optional: nil skips their cases
//				TenantKeys: k, Budgets: b, Usage: u, Tenants: l, // optional too
//				Features: contract.Features{FIFOLease: false}, // waiters poll
//				Waiting:  nil, // optional: how many wait for a lease now
//			}
//		})
//	}
//
// The factory is called once per test case and should return empty stores
// (the suite also uses fresh tenant, session, key and agent ids everywhere,
// so a shared store works too). Policies, Sessions, Turns and Locker are
// required; a nil optional port skips that port's cases, visibly
// (t.Skip). The suite uses real time and keeps every wait short (lease TTLs
// and idempotency expiries of a few hundred milliseconds, one-second rate
// windows); its code is safe under -race. Features declares honest
// differences between backends: a case that needs a feature the backend
// does not promise checks the weaker guarantee instead of failing.
package contract

import (
	"testing"

	"focal/ports"
)

// Stores are the ports under test. One value may implement several.
type Stores struct {
	Policies ports.PolicyStore
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Locker   ports.SessionLocker
	// Idempotency and Rates are optional: nil skips their cases.
	Idempotency ports.IdempotencyStore
	Rates       ports.RateLimiter
	// PolicyHistory is optional: nil skips its cases. It must read what
	// Policies writes.
	PolicyHistory ports.PolicyHistory
	// TenantKeys, Budgets and Usage are optional: nil skips their cases.
	TenantKeys ports.TenantModelKeyStore
	Budgets    ports.BudgetStore
	Usage      ports.UsageMeter
	// Tenants is optional: nil skips its cases, which need TenantKeys
	// and Budgets too. It must list what Policies, Sessions, TenantKeys
	// and Budgets write.
	Tenants  ports.TenantLister
	Features Features
	// Waiting, when set, reports how many callers wait for a session's
	// lease now. The lease cases then know when a caller has joined the
	// queue instead of guessing from the wall clock; Features.FIFOLease
	// needs it, since arrival order is only defined through it.
	Waiting func(tenantID, sessionID string) int
}

// Features declares what a backend promises beyond the ports' minimum.
type Features struct {
	// FIFOLease: waiters for a busy session lease get it in the order they
	// asked. Backends that wait by polling cannot promise it; the suite then
	// only checks that every waiter gets the lease in turn.
	FIFOLease bool
	// LazySession: a lock by channel key without a candidate calls
	// LockRequest.NewID only when it creates the key's session, so a
	// returning user's lock builds no session. Without it the suite only
	// checks that the one session created is the one every lock finds
	// (PostgreSQL builds the new session for every such lock: its one
	// find-or-create statement needs it up front).
	LazySession bool
	// Retention opens stores that bound what they keep as r says (see
	// Retention and the retention cases). Nil: the backend keeps everything
	// (its own expiry of leases and idempotency records aside) and the
	// retention cases are skipped.
	Retention func(t *testing.T, r Retention) Retaining
}

// RunStoreSuite runs every conformance case against the stores factory
// returns.
func RunStoreSuite(t *testing.T, factory func(t *testing.T) Stores) {
	t.Run("Retention", func(t *testing.T) { runRetentionCases(t, factory) })
	for _, g := range caseGroups() {
		t.Run(g.name, func(t *testing.T) { g.run(t, factory) })
	}
}

// caseGroup is the cases of one port.
type caseGroup struct {
	name  string
	cases []testCase
	// missing names an optional port the factory did not provide, or is
	// "fatal" when a required one is missing.
	missing func(Stores) string
}

func caseGroups() []caseGroup {
	return []caseGroup{
		{"PolicyStore", policyCases, requireCore},
		{"SessionStore", sessionCases, requireCore},
		{"TurnStore", turnCases, requireCore},
		{"SessionLocker", lockerCases, requireCore},
		{"IdempotencyStore", idempotencyCases, optional("Stores.Idempotency", func(s Stores) bool { return s.Idempotency != nil })},
		{"RateLimiter", rateCases, optional("Stores.Rates", func(s Stores) bool { return s.Rates != nil })},
		{"PolicyHistory", policyHistoryCases, optional("Stores.PolicyHistory", func(s Stores) bool { return s.PolicyHistory != nil })},
		{"TenantModelKeyStore", tenantKeyCases, optional("Stores.TenantKeys", func(s Stores) bool { return s.TenantKeys != nil })},
		{"BudgetStore", budgetCases, optional("Stores.Budgets", func(s Stores) bool { return s.Budgets != nil })},
		{"UsageMeter", usageCases, optional("Stores.Usage", func(s Stores) bool { return s.Usage != nil })},
		{"TenantLister", tenantListCases, optional("Stores.Tenants (with TenantKeys and Budgets)", func(s Stores) bool {
			return s.Tenants != nil && s.TenantKeys != nil && s.Budgets != nil
		})},
		{"Cursors", cursorCases, requireCore},
	}
}

// requireCore is "fatal" unless the ports every backend has are there.
func requireCore(s Stores) string {
	if s.Policies == nil || s.Sessions == nil || s.Turns == nil || s.Locker == nil {
		return "fatal"
	}
	return ""
}

// optional names field when has says the port is missing.
func optional(field string, has func(Stores) bool) func(Stores) string {
	return func(s Stores) string {
		if !has(s) {
			return field
		}
		return requireCore(s)
	}
}

func (g caseGroup) run(t *testing.T, factory func(t *testing.T) Stores) {
	for _, c := range g.cases {
		t.Run(c.name, func(t *testing.T) {
			s := factory(t)
			switch m := g.missing(s); m {
			case "":
			case "fatal":
				t.Fatal("contract: the factory must return Policies, Sessions, Turns and Locker")
			default:
				t.Skipf("contract: %s is nil; the %s cases are skipped", m, g.name)
			}
			c.run(t, newFixture(t, s))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, f *fixture)
}
