package contract

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/ports"
)

// Listings page in the byte-wise order of their ids, as Go compares
// strings, whatever order the backend's text collation would give: upper
// case before lower, digits before both, '-' and '.' before ':' before
// '_'. A linguistic collation (ICU en-US) orders the ids below otherwise,
// so a listing that sorts or compares its cursor by it fails here.

// byteWiseAgents are agent ids (letters, digits, '_', '.', ':', '-')
// whose byte-wise and linguistic orders differ.
var byteWiseAgents = []string{"b", "a-x", "Z", "B-x", "a_x", "A", "ax", "a.x", "a:x", "A:1", "9z", "a"}

// listAgents pages through the tenant's agents, limit at a time, checking
// each page's size, and returns their ids.
func (f *fixture) listAgents(tenant string, limit int) []string {
	f.t.Helper()
	var ids []string
	page := ports.PageRequest{Limit: limit}
	for range 100 {
		p, err := f.Policies.ListAgents(f.ctx, tenant, page)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(p.Items), ports.PageLimit(limit), "a page holds at most its limit")
		for _, a := range p.Items {
			ids = append(ids, a.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		require.NotEmpty(f.t, p.Items, "a page before the last is not empty")
		page.Cursor = p.NextCursor
	}
	f.t.Fatal("the agent listing never ends")
	return nil
}

// Agents are listed by id byte-wise, in one page and across pages of two
// cut between ids a linguistic collation orders otherwise. Some have a
// second version and one is deleted, so the newest of each is what is
// ordered.
func testAgentsByteWise(t *testing.T, f *fixture) {
	tenant := newID()
	for i, id := range byteWiseAgents {
		require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(id, 1, id)))
		if i%3 == 0 {
			require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(id, 2, id)))
		}
	}
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy("a-", 1, "deleted")))
	require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, "a-"))

	want := slices.Sorted(slices.Values(byteWiseAgents))
	assert.Equal(t, want, f.listAgents(tenant, ports.MaxPageSize), "one page")
	assert.Equal(t, want, f.listAgents(tenant, 2), "pages of two")
}

// listAllKeys pages through every tenant's model keys, limit at a time,
// and returns them as tenant/provider.
func (f *fixture) listAllKeys(limit int) []string {
	f.t.Helper()
	var all []string
	page := ports.PageRequest{Limit: limit}
	for range 100_000 {
		p, err := f.TenantKeys.ListAllTenantModelKeys(f.ctx, page)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(p.Items), ports.PageLimit(limit), "a page holds at most its limit")
		for _, k := range p.Items {
			all = append(all, k.TenantID+"/"+k.Provider)
		}
		if p.NextCursor == "" {
			return all
		}
		require.NotEmpty(f.t, p.Items, "a page before the last is not empty")
		page.Cursor = p.NextCursor
	}
	f.t.Fatal("the key listing never ends")
	return nil
}

// Every tenant's model keys are listed by (tenant, provider) byte-wise,
// in one page and in pages of two. Only a key rotation reads this
// listing, and it needs each key once, which any one collation gives;
// the order is the port's, and the same on every store. The tenants
// differ after a common prefix only in characters above '/', so ordering
// by the pair and by tenant + "/" + provider agree (ListAllByPair is
// where they do not).
func testTenantKeysByteWise(t *testing.T, f *fixture) {
	group := newID()
	var ours []string
	for _, suffix := range []string{"b", "_x", "Z", "a_x", "A", "ax", "B", "a"} {
		tenant := group + "-" + suffix
		_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "aaaa"))
		require.NoError(t, err)
		ours = append(ours, tenant+"/openai")
	}
	want := slices.Sorted(slices.Values(ours))
	assert.Equal(t, want, of(f.listAllKeys(ports.MaxPageSize), ours), "one page")
	assert.Equal(t, want, of(f.listAllKeys(2), ours), "pages of two")
}

// Every tenant's model keys are listed by tenant, then provider, where
// that order and the byte-wise order of tenant + "/" + provider differ:
// a tenant id followed in another by a character below '/' ("acme",
// "acme-eu", "acme.x") comes first by the pair, last by the string. In
// one page, and in pages of one, two and three, which cut between a
// tenant's two keys and between tenants, each key is listed once and in
// that order, as a rotation needs to visit each once, also when it
// reseals each key as it goes.
func testTenantKeysByPair(t *testing.T, f *fixture) {
	group := newID() + "-"
	var want []string
	for _, tenant := range []string{"acme", "acme-eu", "acme.x", "acme0"} {
		for _, provider := range []string{"anthropic", "openai"} {
			_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(group+tenant, provider, "aaaa"))
			require.NoError(t, err)
			want = append(want, group+tenant+"/"+provider)
		}
	}
	assert.Equal(t, want, of(f.listAllKeys(ports.MaxPageSize), want), "one page")
	for _, limit := range []int{1, 2, 3} {
		assert.Equal(t, want, of(f.listAllKeys(limit), want), "pages of %d", limit)
	}

	// A rotation reseals each key as it lists it, a page at a time: a
	// resealed key is neither listed again nor moves past the cursor.
	var resealed []string
	page := ports.PageRequest{Limit: 1}
	for range 100_000 {
		p, err := f.TenantKeys.ListAllTenantModelKeys(f.ctx, page)
		require.NoError(t, err)
		for _, k := range p.Items {
			if id := k.TenantID + "/" + k.Provider; slices.Contains(want, id) {
				k.Secret.KeyID = "k2"
				require.NoError(t, f.TenantKeys.ResealTenantModelKey(f.ctx, k), "resealing %s", id)
				resealed = append(resealed, id)
			}
		}
		if page.Cursor = p.NextCursor; page.Cursor == "" {
			break
		}
	}
	assert.Equal(t, want, resealed, "a rotation in pages of one")
}
