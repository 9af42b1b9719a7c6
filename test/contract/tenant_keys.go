package contract

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var tenantKeyCases = []testCase{
	{"PutReadReplaceDelete", testTenantKeyLifecycle},
	{"ConcurrentPutsOneInForce", testConcurrentTenantKeyPuts},
	{"ResealOnlyTheRevisionRead", testTenantKeyReseal},
	{"ListAllPages", testListAllTenantKeys},
	{"ListAllByteWise", testTenantKeysByteWise},
	{"ListAllByPair", testTenantKeysByPair},
	{"TenantIsolation", testTenantKeyIsolation},
}

// sealedKey is a stored key as a sealer would have made it (the store
// never looks inside).
func sealedKey(tenant, provider, hint string) ports.TenantModelKey {
	return ports.TenantModelKey{
		TenantID: tenant, Provider: provider,
		Secret: ports.SealedSecret{KeyID: "k1", Nonce: []byte("nonce-" + hint), Ciphertext: []byte("ciphertext-" + hint)},
		Hint:   hint, BaseURL: "https://models.example/v1", Models: []string{"gpt-4o-mini", "gpt-4o"},
		SetAt: time.Now().UTC().Truncate(time.Millisecond),
	}
}

// requireSameKey compares keys but for the revision.
func requireSameKey(t *testing.T, want, got ports.TenantModelKey) {
	t.Helper()
	want.Revision, got.Revision = 0, 0
	requireSameTime(t, want.SetAt, got.SetAt, "set_at")
	want.SetAt, got.SetAt = time.Time{}, time.Time{}
	requireJSONEqual(t, want, got)
}

func testTenantKeyLifecycle(t *testing.T, f *fixture) {
	tenant := newID()
	keys, err := f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Empty(t, keys)
	requireCode(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, tenant, "openai"), domain.CodeNotFound, "deleting a key never set")

	openai := sealedKey(tenant, "openai", "aaaa")
	r1, err := f.TenantKeys.PutTenantModelKey(f.ctx, openai)
	require.NoError(t, err)
	anthropic := sealedKey(tenant, "anthropic", "bbbb")
	anthropic.BaseURL, anthropic.Models = "", nil
	_, err = f.TenantKeys.PutTenantModelKey(f.ctx, anthropic)
	require.NoError(t, err)
	openai.Secret.Ciphertext[0] = 'X' // the caller's copy changes; the stored one must not

	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	requireSameKey(t, anthropic, keys[0])
	want := sealedKey(tenant, "openai", "aaaa")
	want.SetAt = openai.SetAt
	requireSameKey(t, want, keys[1])
	assert.Equal(t, r1, keys[1].Revision)
	keys[1].Secret.Ciphertext[0] = 'Y' // nor does the reader's
	again, err := f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	requireSameKey(t, want, again[1])

	replaced := sealedKey(tenant, "openai", "cccc")
	replaced.Models = nil
	r2, err := f.TenantKeys.PutTenantModelKey(f.ctx, replaced)
	require.NoError(t, err)
	assert.Greater(t, r2, r1, "a put moves the revision on")
	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	requireSameKey(t, replaced, keys[1])

	require.NoError(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, tenant, "openai"))
	requireCode(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, tenant, "openai"), domain.CodeNotFound, "deleting twice")
	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, "anthropic", keys[0].Provider)

	r3, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "dddd"))
	require.NoError(t, err)
	assert.Greater(t, r3, r2, "a key set again after a delete never reuses a revision")
}

func testConcurrentTenantKeyPuts(t *testing.T, f *fixture) {
	tenant := newID()
	const putters = 8
	results := race(putters, func(i int) (int64, error) {
		return f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", fmt.Sprintf("%04d", i)))
	})
	best, hint := int64(0), ""
	for i, r := range results {
		require.NoError(t, r.err, "put %d", i)
		if r.value > best {
			best, hint = r.value, fmt.Sprintf("%04d", i)
		}
	}
	keys, err := f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, keys, 1, "one key per provider")
	assert.Equal(t, best, keys[0].Revision, "the key in force has the highest revision")
	assert.Equal(t, hint, keys[0].Hint, "and is the put that got it")
}

func testTenantKeyReseal(t *testing.T, f *fixture) {
	tenant := newID()
	_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "aaaa"))
	require.NoError(t, err)
	keys, err := f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	read := keys[0]

	resealed := read
	resealed.Secret = ports.SealedSecret{KeyID: "k2", Nonce: []byte("new-nonce"), Ciphertext: []byte("new-ciphertext")}
	resealed.Hint, resealed.Models = "changed?", []string{"changed?"} // only the secret is replaced
	require.NoError(t, f.TenantKeys.ResealTenantModelKey(f.ctx, resealed))
	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	want := read
	want.Secret = resealed.Secret
	requireSameKey(t, want, keys[0])
	assert.Greater(t, keys[0].Revision, read.Revision)

	requireCode(t, f.TenantKeys.ResealTenantModelKey(f.ctx, resealed), domain.CodeVersionConflict, "resealing a revision read before a reseal")
	_, err = f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "bbbb"))
	require.NoError(t, err)
	stale := keys[0]
	stale.Secret.KeyID = "k3"
	requireCode(t, f.TenantKeys.ResealTenantModelKey(f.ctx, stale), domain.CodeVersionConflict, "resealing over a newer put")
	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, "bbbb", keys[0].Hint, "the newer key stays")

	require.NoError(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, tenant, "openai"))
	requireCode(t, f.TenantKeys.ResealTenantModelKey(f.ctx, keys[0]), domain.CodeNotFound, "resealing a deleted key")
}

func testListAllTenantKeys(t *testing.T, f *fixture) {
	mine := map[string]bool{}
	for range 3 {
		tenant := newID()
		for _, p := range []string{"anthropic", "openai"} {
			_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, p, "zzzz"))
			require.NoError(t, err)
			mine[tenant+"/"+p] = true
		}
	}
	// Other cases may share the store: every key of this case is listed
	// exactly once, in order, whatever else is there.
	seen := map[string]bool{}
	var last ports.TenantModelKey
	page := ports.PageRequest{Limit: 4}
	for range 1000 {
		p, err := f.TenantKeys.ListAllTenantModelKeys(f.ctx, page)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Items), 4)
		for _, k := range p.Items {
			id := k.TenantID + "/" + k.Provider
			require.Positive(t, cmp.Or(strings.Compare(k.TenantID, last.TenantID), strings.Compare(k.Provider, last.Provider)),
				"by tenant, then provider: %s after %s/%s", id, last.TenantID, last.Provider)
			require.False(t, seen[id], "listed twice: %s", id)
			seen[id], last = true, k
		}
		if p.NextCursor == "" {
			break
		}
		page.Cursor = p.NextCursor
	}
	for id := range mine {
		assert.True(t, seen[id], "%s is listed", id)
	}
	// A cursor no key listing issued is the caller's error in every store.
	for _, bad := range []string{"%%%", ports.TenantCursors.Cursor("no-provider"), ports.SessionCursor("a-tenant", 17, "a-session")} {
		_, err := f.TenantKeys.ListAllTenantModelKeys(f.ctx, ports.PageRequest{Cursor: bad})
		requireCode(t, err, domain.CodeInvalidRequest, "cursor "+bad)
	}
}

func testTenantKeyIsolation(t *testing.T, f *fixture) {
	tenant, other := newID(), newID()
	_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, "openai", "aaaa"))
	require.NoError(t, err)
	keys, err := f.TenantKeys.TenantModelKeys(f.ctx, other)
	require.NoError(t, err)
	assert.Empty(t, keys, "another tenant sees none")
	requireCode(t, f.TenantKeys.DeleteTenantModelKey(f.ctx, other, "openai"), domain.CodeNotFound, "another tenant's delete")
	keys, err = f.TenantKeys.TenantModelKeys(f.ctx, tenant)
	require.NoError(t, err)
	require.Len(t, keys, 1)
}
