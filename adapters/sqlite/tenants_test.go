package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// Paging through every tenant's keys (a re-seal under a new key) visits
// each once, and the page that holds the last key says there is no more,
// also when the keys fill it exactly.
func TestListingEveryKeyEndsOnTheLastKey(t *testing.T) {
	ctx := t.Context()
	db := openWith(t, Config{Path: filepath.Join(t.TempDir(), "focal.db")}, clock.System{})
	tenants := NewTenants(db)
	var want []string
	for _, tenant := range []string{"t1", "t2"} {
		for _, provider := range []string{"anthropic", "openai"} {
			_, err := tenants.PutTenantModelKey(ctx, ports.TenantModelKey{TenantID: tenant, Provider: provider,
				Secret: ports.SealedSecret{KeyID: "k1"}, SetAt: time.Now()})
			require.NoError(t, err)
			want = append(want, tenant+"/"+provider)
		}
	}
	for _, limit := range []int{1, 2, 3, 4} {
		var got []string
		page := ports.PageRequest{Limit: limit}
		for pages := 1; ; pages++ {
			p, err := tenants.ListAllTenantModelKeys(ctx, page)
			require.NoError(t, err)
			for _, k := range p.Items {
				got = append(got, k.TenantID+"/"+k.Provider)
			}
			if p.NextCursor == "" {
				require.Equal(t, (len(want)+limit-1)/limit, pages, "pages of %d", limit)
				break
			}
			require.Less(t, pages, len(want), "pages of %d never end", limit)
			page.Cursor = p.NextCursor
		}
		require.Equal(t, want, got, "pages of %d", limit)
	}
}
