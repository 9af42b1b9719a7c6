package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

var _ ports.PolicyHistory = (*Policies)(nil)

const (
	sqlListVersions = `SELECT agent FROM policies WHERE tenant_id = ? AND agent_id = ? AND NOT deleted AND version < ?
ORDER BY version DESC LIMIT ?`
	sqlGetVersion = `SELECT policy FROM policies WHERE tenant_id = ? AND agent_id = ? AND NOT deleted AND version = ?`
)

// alive is AGENT_NOT_FOUND unless the agent exists and is not deleted:
// then the rows not deleted are its current life's versions.
func (ps *Policies) alive(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, tenantID, agentID string) error {
	n, err := readNewest(ctx, q, tenantID, agentID)
	if err != nil {
		return fail(err, "read policy versions")
	}
	if n.version == 0 || n.deleted {
		return sqlkit.AgentNotFound(agentID)
	}
	return nil
}

// ListPolicyVersions implements ports.PolicyHistory.
func (ps *Policies) ListPolicyVersions(ctx context.Context, tenantID, agentID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	before, paged, err := ports.VersionCursors.After(page.Cursor, tenantID, agentID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	if !paged {
		before = math.MaxInt64
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	if err := ps.alive(ctx, ps.db.readers, tenantID, agentID); err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	rows, err := ps.db.readers.QueryContext(ctx, sqlListVersions, tenantID, agentID, before, limit+1)
	if err != nil {
		return ports.Page[domain.Agent]{}, fail(err, "list policy versions")
	}
	defer rows.Close()
	out, err := sqlkit.ReadPage(rows, limit, sqlkit.VersionItem(tenantID, agentID))
	return out, fail(err, "list policy versions")
}

// GetPolicyVersion implements ports.PolicyHistory.
func (ps *Policies) GetPolicyVersion(ctx context.Context, tenantID, agentID string, version int64) (*domain.Policy, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	if err := ps.alive(ctx, ps.db.readers, tenantID, agentID); err != nil {
		return nil, err
	}
	var text string
	err := ps.db.readers.QueryRowContext(ctx, sqlGetVersion, tenantID, agentID, version).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "agent %s has no version %d", agentID, version)
	}
	if err != nil {
		return nil, fail(err, "read policy version")
	}
	return sqlkit.DecodePolicy(tenantID, text)
}
