package contract

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var tenantListCases = []testCase{
	{"EveryKindListedOnceInOrder", testTenantsOfEveryKind},
	{"PagesAcrossCursors", testTenantPages},
	{"ATenantWithNothingIsNotListed", testTenantWithNothing},
	{"ListedByteWise", testTenantsByteWise},
}

// The store may be shared with other cases: a case checks the tenants it
// made, and that the whole listing is in order.

// listTenants pages through every tenant, limit at a time, checking each
// page's size, and returns them.
func (f *fixture) listTenants(limit int) []string {
	f.t.Helper()
	var all []string
	page := ports.PageRequest{Limit: limit}
	for range 100_000 {
		p, err := f.Tenants.ListTenants(f.ctx, page)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(p.Items), ports.PageLimit(limit), "a page holds at most its limit")
		for _, id := range p.Items {
			if n := len(all); n > 0 {
				require.Greater(f.t, id, all[n-1], "tenants are listed in ascending order, each once")
			}
			all = append(all, id)
		}
		if p.NextCursor == "" {
			return all
		}
		require.NotEmpty(f.t, p.Items, "a page before the last is not empty")
		page.Cursor = p.NextCursor
	}
	f.t.Fatal("the tenant listing never ends")
	return nil
}

// of is the part of listed that is in ours, in listed's order.
func of(listed, ours []string) []string {
	var out []string
	for _, id := range listed {
		if slices.Contains(ours, id) {
			out = append(out, id)
		}
	}
	return out
}

// fill gives the tenant data of each kind in kinds: "agent", "session",
// "key", "budget".
func (f *fixture) fill(tenant string, kinds ...string) {
	f.t.Helper()
	for _, kind := range kinds {
		switch kind {
		case "agent":
			require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(newID(), 0, "agent")))
		case "session":
			f.newSession(tenant, newID())
		case "key":
			_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "aaaa"))
			require.NoError(f.t, err)
		case "budget":
			require.NoError(f.t, f.Budgets.SetTenantBudget(f.ctx, ports.TenantBudget{TenantID: tenant, MonthlyTokens: 1000,
				Month: "2026-03", SetAt: time.Now().UTC()}))
		}
	}
}

func testTenantsOfEveryKind(t *testing.T, f *fixture) {
	kinds := []string{"agent", "session", "key", "budget"}
	var ours []string
	for _, kind := range kinds {
		tenant := newID()
		f.fill(tenant, kind)
		ours = append(ours, tenant)
	}
	every := newID()
	f.fill(every, kinds...)
	f.fill(every, kinds...) // a second agent, session, key (replaced) and budget (replaced)
	ours = append(ours, every)

	got := of(f.listTenants(0), ours)
	want := slices.Sorted(slices.Values(ours))
	assert.Equal(t, want, got, "each tenant with an agent, a session, a model key or a budget, once, in order")
}

func testTenantPages(t *testing.T, f *fixture) {
	var ours []string
	for i := range 5 {
		tenant := newID()
		f.fill(tenant, []string{"agent", "session", "key", "budget", "session"}[i])
		ours = append(ours, tenant)
	}
	whole := f.listTenants(ports.MaxPageSize)
	assert.Equal(t, whole, f.listTenants(2), "pages of two list what one page of a hundred does")
	assert.Equal(t, slices.Sorted(slices.Values(ours)), of(whole, ours))

	_, err := f.Tenants.ListTenants(f.ctx, ports.PageRequest{Cursor: "not a cursor!"})
	requireCode(t, err, domain.CodeInvalidRequest, "a cursor the listing did not issue")
}

// A tenant whose agent, session, model key and budget were deleted is not
// listed, nor is one with only what passes (usage, claimed budget blocks).
func testTenantWithNothing(t *testing.T, f *fixture) {
	gone, passing, kept := newID(), newID(), newID()
	f.fill(kept, "session")

	agent := samplePolicy(newID(), 0, "agent")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, gone, agent))
	agent.Agent.Version++
	require.NoError(t, f.Policies.SavePolicy(f.ctx, gone, agent), "a second version")
	require.NoError(t, f.Policies.DeleteAgent(f.ctx, gone, agent.Agent.ID))
	s := f.newSession(gone, newID())
	require.NoError(t, f.Sessions.DeleteSession(f.ctx, gone, s.ID))
	f.fill(gone, "key", "budget")
	require.NoError(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, gone, "openai"))
	require.NoError(t, f.Budgets.DeleteTenantBudget(f.ctx, gone))

	_, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, passing, "2026-03", 3, "holder")
	require.NoError(t, err)
	require.True(t, ok)
	if f.Usage != nil {
		require.NoError(t, f.Usage.RecordUsage(f.ctx, ports.UsageRecord{TenantID: passing, Month: "2026-03", Holder: "holder",
			Prompt: 10, Completion: 5, Turns: 1, UpdatedAt: time.Now().UTC()}))
	}

	assert.Equal(t, []string{kept}, of(f.listTenants(0), []string{gone, passing, kept}))
}

// Tenants are listed in the byte-wise order of their ids, as Go compares
// strings, whatever order the backend's text collation would give: upper
// case before lower, '_' between, punctuation counted. Pages of two cut
// between ids a linguistic collation orders otherwise.
func testTenantsByteWise(t *testing.T, f *fixture) {
	group := newID()
	kinds := []string{"agent", "session", "key", "budget"}
	var ours []string
	for i, suffix := range []string{"b", "_x", "a-x", "Z", "B-x", "a_x", "A", "ax"} {
		tenant := group + "-" + suffix
		f.fill(tenant, kinds[i%len(kinds)])
		ours = append(ours, tenant)
	}
	want := slices.Sorted(slices.Values(ours))
	assert.Equal(t, want, of(f.listTenants(ports.MaxPageSize), ours), "one page")
	assert.Equal(t, want, of(f.listTenants(2), ours), "pages of two")
}
