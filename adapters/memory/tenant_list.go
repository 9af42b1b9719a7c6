package memory

import (
	"context"
	"slices"

	"focal/ports"
)

// TenantList implements ports.TenantLister over the memory stores that
// hold a tenant's lasting data: agents and sessions (Store), model keys
// and budgets. Each listing looks at every record: fine for what memory
// holds, and rare (a tool moving a whole store).
type TenantList struct {
	store   *Store
	keys    *TenantModelKeys
	budgets *Budgets
}

var _ ports.TenantLister = (*TenantList)(nil)

// NewTenantList returns the tenant listing of the three stores.
func NewTenantList(store *Store, keys *TenantModelKeys, budgets *Budgets) *TenantList {
	return &TenantList{store: store, keys: keys, budgets: budgets}
}

// ListTenants implements ports.TenantLister.
func (l *TenantList) ListTenants(ctx context.Context, page ports.PageRequest) (ports.Page[string], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[string]{}, unavailable(err)
	}
	after, err := ports.TenantCursors.After(page.Cursor)
	if err != nil {
		return ports.Page[string]{}, err
	}
	held := map[string]bool{}
	l.store.addTenants(held)
	l.keys.addTenants(held)
	l.budgets.addTenants(held)
	var ids []string
	for id := range held {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return paginate(ids, page.Limit, ports.TenantCursors.Cursor), nil
}

// addTenants adds the tenants with a live agent or a session, hot or cold.
func (s *Store) addTenants(held map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.policies {
		held[p.Agent.TenantID] = true
	}
	for _, e := range s.sessions {
		held[e.tenant()] = true
	}
	for h, p := range s.cold.slots {
		if p != 0 {
			held[s.cold.names[s.cold.record(uint32(h)).names()].Value().tenant] = true
		}
	}
}

func (s *TenantModelKeys) addTenants(held map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		held[k.TenantID] = true
	}
}

func (s *Budgets) addTenants(held map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tenant := range s.budgets {
		held[tenant] = true
	}
}
