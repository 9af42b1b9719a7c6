package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"focal/domain"
	"focal/ports"
)

// TenantModelKeys keeps tenants' model keys in process memory.
type TenantModelKeys struct {
	mu   sync.Mutex
	keys map[string]ports.TenantModelKey // tenant/provider → key
	// revisions remembers the last revision of every (tenant, provider),
	// so a key deleted and put again never reuses one.
	revisions map[string]int64
}

var _ ports.TenantModelKeyStore = (*TenantModelKeys)(nil)

// NewTenantModelKeys returns an empty key store.
func NewTenantModelKeys() *TenantModelKeys {
	return &TenantModelKeys{keys: map[string]ports.TenantModelKey{}, revisions: map[string]int64{}}
}

func tenantKeyID(tenantID, provider string) string { return tenantID + "/" + provider }

// copyKey gives the caller its own slices.
func copyKey(k ports.TenantModelKey) ports.TenantModelKey {
	k.Secret.Nonce = slices.Clone(k.Secret.Nonce)
	k.Secret.Ciphertext = slices.Clone(k.Secret.Ciphertext)
	k.Models = slices.Clone(k.Models)
	return k
}

// PutTenantModelKey implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) PutTenantModelKey(ctx context.Context, rec ports.TenantModelKey) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := tenantKeyID(rec.TenantID, rec.Provider)
	s.revisions[id]++
	rec = copyKey(rec)
	rec.Revision = s.revisions[id]
	s.keys[id] = rec
	return rec.Revision, nil
}

// TenantModelKeys implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) TenantModelKeys(ctx context.Context, tenantID string) ([]ports.TenantModelKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ports.TenantModelKey{}
	for _, k := range s.keys {
		if k.TenantID == tenantID {
			out = append(out, copyKey(k))
		}
	}
	slices.SortFunc(out, func(a, b ports.TenantModelKey) int { return strings.Compare(a.Provider, b.Provider) })
	return out, nil
}

// DeleteTenantModelKey implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) DeleteTenantModelKey(ctx context.Context, tenantID, provider string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := tenantKeyID(tenantID, provider)
	if _, ok := s.keys[id]; !ok {
		return domain.Errorf(domain.CodeNotFound, "no %s key is set", provider)
	}
	delete(s.keys, id)
	s.revisions[id]++
	return nil
}

// ListAllTenantModelKeys implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) ListAllTenantModelKeys(ctx context.Context, page ports.PageRequest) (ports.Page[ports.TenantModelKey], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[ports.TenantModelKey]{}, unavailable(err)
	}
	var last ports.TenantModelKey
	var err error
	if last.TenantID, last.Provider, err = ports.TenantModelKeyAfter(page.Cursor); err != nil {
		return ports.Page[ports.TenantModelKey]{}, err
	}
	s.mu.Lock()
	var all []ports.TenantModelKey
	for _, k := range s.keys {
		if page.Cursor == "" || keyOrder(k, last) > 0 {
			all = append(all, copyKey(k))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, keyOrder)
	return paginate(all, page.Limit, ports.TenantModelKeyCursor), nil
}

// keyOrder orders every tenant's keys by tenant, then provider,
// byte-wise, as the cursor (ports.TenantModelKeyCursor) names the pair.
func keyOrder(a, b ports.TenantModelKey) int {
	return cmp.Or(strings.Compare(a.TenantID, b.TenantID), strings.Compare(a.Provider, b.Provider))
}

// ResealTenantModelKey implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) ResealTenantModelKey(ctx context.Context, rec ports.TenantModelKey) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := tenantKeyID(rec.TenantID, rec.Provider)
	cur, ok := s.keys[id]
	switch {
	case !ok:
		return domain.Errorf(domain.CodeNotFound, "no %s key is set", rec.Provider)
	case cur.Revision != rec.Revision:
		return domain.Errorf(domain.CodeVersionConflict, "the %s key changed since it was read", rec.Provider)
	}
	s.revisions[id]++
	cur.Secret = copyKey(rec).Secret
	cur.Revision = s.revisions[id]
	s.keys[id] = cur
	return nil
}
