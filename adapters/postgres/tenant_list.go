package postgres

import (
	"context"

	"focal/adapters/sqlkit"
	"focal/ports"
)

var _ ports.TenantLister = (*Tenants)(nil)

// sqlListTenants lists the tenants holding a live agent (its newest row
// not a deletion marker), a session, a model key or a budget, after a
// tenant id, byte-wise as their cursors compare.
const sqlListTenants = `-- list tenants
SELECT tenant_id FROM (
	SELECT tenant_id FROM policies p
		WHERE tenant_id COLLATE "C" > $1 AND NOT deleted
		AND NOT EXISTS (SELECT 1 FROM policies q WHERE q.tenant_id = p.tenant_id AND q.agent_id = p.agent_id AND q.version > p.version)
	UNION SELECT tenant_id FROM sessions WHERE tenant_id COLLATE "C" > $1
	UNION SELECT tenant_id FROM tenant_model_keys WHERE tenant_id COLLATE "C" > $1
	UNION SELECT tenant_id FROM tenant_budgets WHERE tenant_id COLLATE "C" > $1
) held ORDER BY tenant_id COLLATE "C" LIMIT $2`

// ListTenants implements ports.TenantLister.
func (s *Tenants) ListTenants(ctx context.Context, page ports.PageRequest) (ports.Page[string], error) {
	after, err := ports.TenantCursors.After(page.Cursor)
	if err != nil {
		return ports.Page[string]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	out, err := readPage(ctx, s.db, limit, sqlkit.TenantItem, sqlListTenants, after, limit+1)
	return out, fail(err, "list tenants")
}
