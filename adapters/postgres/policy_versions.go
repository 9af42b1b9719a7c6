package postgres

import (
	"context"
	"errors"
	"math"

	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

var _ ports.PolicyHistory = (*Policies)(nil)

// lifeOf restricts a query on policies to the versions of the agent's
// current life: those after its newest deletion marker.
const lifeOf = `tenant_id = $1 AND agent_id = $2 AND NOT deleted AND version > coalesce(
	(SELECT max(version) FROM policies WHERE tenant_id = $1 AND agent_id = $2 AND deleted), 0)`

const (
	sqlListVersions = `-- list policy versions
SELECT agent FROM policies WHERE ` + lifeOf + ` AND version < $3 ORDER BY version DESC LIMIT $4`
	sqlGetVersion = `-- get policy version
SELECT policy FROM policies WHERE ` + lifeOf + ` AND version = $3`
)

// alive is AGENT_NOT_FOUND unless the agent exists and is not deleted.
func (ps *Policies) alive(ctx context.Context, tenantID, agentID string) error {
	v, deleted, err := ps.storedVersion(ctx, tenantID, agentID)
	if err == nil && (v == 0 || deleted) {
		err = sqlkit.AgentNotFound(agentID)
	}
	return err
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
	if err := ps.alive(ctx, tenantID, agentID); err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	out, err := readPage(ctx, ps.db, limit, sqlkit.VersionItem(tenantID, agentID), sqlListVersions, tenantID, agentID, before, limit+1)
	return out, fail(err, "list policy versions")
}

// GetPolicyVersion implements ports.PolicyHistory.
func (ps *Policies) GetPolicyVersion(ctx context.Context, tenantID, agentID string, version int64) (*domain.Policy, error) {
	if err := ps.alive(ctx, tenantID, agentID); err != nil {
		return nil, err
	}
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	var text string
	err := retryIdempotent(ctx, func() error {
		return ps.db.pool.QueryRow(ctx, sqlGetVersion, tenantID, agentID, version).Scan(&text)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "agent %s has no version %d", agentID, version)
	}
	if err != nil {
		return nil, fail(err, "read policy version")
	}
	return sqlkit.DecodePolicy(tenantID, text)
}
