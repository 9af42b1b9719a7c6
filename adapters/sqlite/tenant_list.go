package sqlite

import (
	"context"

	"focal/adapters/sqlkit"
	"focal/ports"
)

var _ ports.TenantLister = (*Tenants)(nil)

// sqlListTenants lists the tenants holding a live agent (its newest row
// not a deletion marker), a session, a model key or a budget, after a
// tenant id; each branch reads its table's index on tenant_id.
const sqlListTenants = `SELECT tenant_id FROM policies p
	WHERE tenant_id > ? AND NOT deleted
	AND version = (SELECT max(version) FROM policies q WHERE q.tenant_id = p.tenant_id AND q.agent_id = p.agent_id)
UNION SELECT tenant_id FROM sessions WHERE tenant_id > ?
UNION SELECT tenant_id FROM tenant_model_keys WHERE tenant_id > ?
UNION SELECT tenant_id FROM tenant_budgets WHERE tenant_id > ?
ORDER BY tenant_id LIMIT ?`

// ListTenants implements ports.TenantLister.
func (s *Tenants) ListTenants(ctx context.Context, page ports.PageRequest) (ports.Page[string], error) {
	after, err := ports.TenantCursors.After(page.Cursor)
	if err != nil {
		return ports.Page[string]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	rows, err := s.db.readers.QueryContext(ctx, sqlListTenants, after, after, after, after, limit+1)
	if err != nil {
		return ports.Page[string]{}, fail(err, "list tenants")
	}
	defer rows.Close()
	out, err := sqlkit.ReadPage(rows, limit, sqlkit.TenantItem)
	return out, fail(err, "list tenants")
}
