package contract

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var budgetCases = []testCase{
	{"SetReadReplaceDelete", testBudgetLifecycle},
	{"BlocksClaimedInOrderUpToTheLimit", testBudgetBlocksInOrder},
	{"ConcurrentClaimersNeverShareABlock", testConcurrentBlockClaims},
}

var usageCases = []testCase{
	{"HoldersAddUp", testUsageHoldersAddUp},
}

func testBudgetLifecycle(t *testing.T, f *fixture) {
	tenant := newID()
	_, err := f.Budgets.TenantBudget(f.ctx, tenant)
	requireCode(t, err, domain.CodeNotFound, "a tenant without a budget")
	requireCode(t, f.Budgets.DeleteTenantBudget(f.ctx, tenant), domain.CodeNotFound, "deleting no budget")

	set := ports.TenantBudget{TenantID: tenant, MonthlyTokens: 100_000, Month: "2026-03", SpentBefore: 1234, SetAt: time.Now().UTC()}
	require.NoError(t, f.Budgets.SetTenantBudget(f.ctx, set))
	got, err := f.Budgets.TenantBudget(f.ctx, tenant)
	require.NoError(t, err)
	requireSameTime(t, set.SetAt, got.SetAt, "set_at")
	got.SetAt = set.SetAt
	assert.Equal(t, set, *got)

	set.MonthlyTokens = 5
	require.NoError(t, f.Budgets.SetTenantBudget(f.ctx, set))
	got, err = f.Budgets.TenantBudget(f.ctx, tenant)
	require.NoError(t, err)
	assert.EqualValues(t, 5, got.MonthlyTokens, "a set replaces")

	_, err = f.Budgets.TenantBudget(f.ctx, newID())
	requireCode(t, err, domain.CodeNotFound, "another tenant has none")

	require.NoError(t, f.Budgets.DeleteTenantBudget(f.ctx, tenant))
	_, err = f.Budgets.TenantBudget(f.ctx, tenant)
	requireCode(t, err, domain.CodeNotFound, "after the delete")
	require.NoError(t, f.Budgets.SetTenantBudget(f.ctx, set), "a budget can be set again")
}

func testBudgetBlocksInOrder(t *testing.T, f *fixture) {
	tenant := newID()
	for want := range 3 {
		n, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, tenant, "2026-03", 3, "holder-a")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, want, n)
	}
	_, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, tenant, "2026-03", 3, "holder-b")
	require.NoError(t, err)
	assert.False(t, ok, "every block below the limit is claimed")

	// A higher limit (a budget raised) makes the next blocks claimable; other
	// months and tenants have their own blocks.
	n, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, tenant, "2026-03", 5, "holder-b")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 3, n)
	for _, other := range []struct{ tenant, month string }{{tenant, "2026-04"}, {newID(), "2026-03"}} {
		n, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, other.tenant, other.month, 3, "holder-a")
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, 0, n, "%+v starts at block 0", other)
	}
}

func testConcurrentBlockClaims(t *testing.T, f *fixture) {
	tenant := newID()
	const claimers, limit = 24, 10
	results := race(claimers, func(i int) (int, error) {
		n, ok, err := f.Budgets.ClaimBudgetBlock(f.ctx, tenant, "2026-03", limit, fmt.Sprintf("holder-%d", i%3))
		if err == nil && !ok {
			n = -1
		}
		return n, err
	})
	var got []int
	for _, r := range results {
		require.NoError(t, r.err)
		if r.value >= 0 {
			got = append(got, r.value)
		}
	}
	sort.Ints(got)
	want := make([]int, limit)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got, "each block below the limit exactly once, none above")
}

func testUsageHoldersAddUp(t *testing.T, f *fixture) {
	tenant := newID()
	zero, err := f.Usage.MonthUsage(f.ctx, tenant, "2026-03")
	require.NoError(t, err)
	assert.Equal(t, ports.UsageTotals{}, zero)

	write := func(holder string, prompt, completion, turns int64) {
		t.Helper()
		require.NoError(t, f.Usage.RecordUsage(f.ctx, ports.UsageRecord{TenantID: tenant, Month: "2026-03", Holder: holder,
			Prompt: prompt, Completion: completion, Turns: turns, UpdatedAt: time.Now()}))
	}
	write("a", 100, 10, 1)
	write("b", 50, 5, 1)
	write("a", 300, 30, 3) // a holder's record is replaced by its newer totals
	require.NoError(t, f.Usage.RecordUsage(f.ctx, ports.UsageRecord{TenantID: tenant, Month: "2026-04", Holder: "a", Prompt: 7, Turns: 1}))
	require.NoError(t, f.Usage.RecordUsage(f.ctx, ports.UsageRecord{TenantID: newID(), Month: "2026-03", Holder: "a", Prompt: 9, Turns: 1}))

	got, err := f.Usage.MonthUsage(f.ctx, tenant, "2026-03")
	require.NoError(t, err)
	assert.Equal(t, ports.UsageTotals{Prompt: 350, Completion: 35, Turns: 4}, got)
	got, err = f.Usage.MonthUsage(f.ctx, tenant, "2026-04")
	require.NoError(t, err)
	assert.Equal(t, ports.UsageTotals{Prompt: 7, Turns: 1}, got)
}
