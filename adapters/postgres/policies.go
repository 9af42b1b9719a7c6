package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Policies implements ports.PolicyStore on PostgreSQL: one row per
// (tenant, agent, version). The insert of version v+1 is the commit
// point of a change (ON CONFLICT DO NOTHING: of concurrent savers one
// inserts; sent again after a lost connection, it admits the row its lost
// send inserted); a delete inserts a deletion marker as v+1, so numbers are
// never reused. Every version of the agent's current life is kept
// (PolicyHistory); a delete prunes the life it ends, and the save that
// starts a new life prunes the deletion marker.
type Policies struct{ db *DB }

var _ ports.PolicyStore = (*Policies)(nil)

// NewPolicies returns the policy store of db.
func NewPolicies(db *DB) *Policies { return &Policies{db: db} }

const (
	sqlGetPolicy = `-- get policy
SELECT policy, deleted FROM policies WHERE tenant_id = $1 AND agent_id = $2 ORDER BY version DESC LIMIT 1`
	sqlStoredVersion = `-- read agent version
SELECT version, deleted FROM policies WHERE tenant_id = $1 AND agent_id = $2 ORDER BY version DESC LIMIT 1`
	sqlInsertVersion = `-- insert policy version
INSERT INTO policies (tenant_id, agent_id, version, deleted, agent, policy, saved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`
	// The insert sent again after a lost connection: it also admits the
	// row its lost send inserted (this very content, saved at this very
	// time), which it leaves as it is; a row of other content at that
	// version is still a conflict. The no-op update, unlike a read, waits
	// for a lost send still running and judges the row it committed.
	sqlInsertVersionAgain = `-- insert policy version again
INSERT INTO policies AS p (tenant_id, agent_id, version, deleted, agent, policy, saved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, agent_id, version) DO UPDATE SET saved_at = p.saved_at
WHERE p.deleted = EXCLUDED.deleted AND p.agent IS NOT DISTINCT FROM EXCLUDED.agent
	AND p.policy IS NOT DISTINCT FROM EXCLUDED.policy AND p.saved_at = EXCLUDED.saved_at`
	sqlPruneVersions = `-- prune policy versions
DELETE FROM policies WHERE tenant_id = $1 AND agent_id = $2 AND version < $3`
	// Agents are listed byte-wise by id, as their cursors compare, on a
	// database of any default collation; the primary key is in that
	// collation (migration 005), so it gives the order and the range.
	sqlListAgents = `-- list agents
SELECT agent_id, agent FROM (
	SELECT DISTINCT ON (agent_id COLLATE "C") agent_id, agent, deleted FROM policies
	WHERE tenant_id = $1 AND agent_id COLLATE "C" > $2 ORDER BY agent_id COLLATE "C", version DESC
) newest WHERE NOT deleted ORDER BY agent_id COLLATE "C" LIMIT $3`
)

// GetPolicy implements ports.PolicyStore.
func (ps *Policies) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	var body *string
	var deleted bool
	err := retryIdempotent(ctx, func() error {
		return ps.db.pool.QueryRow(ctx, sqlGetPolicy, tenantID, agentID).Scan(&body, &deleted)
	})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (deleted || body == nil)) {
		return nil, sqlkit.AgentNotFound(agentID)
	}
	if err != nil {
		return nil, fail(err, "get policy")
	}
	return sqlkit.DecodePolicy(tenantID, *body)
}

// AgentVersion implements ports.PolicyStore.
func (ps *Policies) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	v, deleted, err := ps.storedVersion(ctx, tenantID, agentID)
	if err == nil && (v == 0 || deleted) {
		err = sqlkit.AgentNotFound(agentID)
	}
	return v, err
}

func (ps *Policies) storedVersion(ctx context.Context, tenantID, agentID string) (int64, bool, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	var v int64
	var deleted bool
	err := retryIdempotent(ctx, func() error {
		return ps.db.pool.QueryRow(ctx, sqlStoredVersion, tenantID, agentID).Scan(&v, &deleted)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return v, deleted, fail(err, "read agent version")
}

// SavePolicy implements ports.PolicyStore: the stored version is read, so a
// gap is refused and a create learns its number, then the next version is
// inserted once.
func (ps *Policies) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	if err := sqlkit.CheckPolicy(p); err != nil {
		return err
	}
	current, deleted, err := ps.storedVersion(ctx, tenantID, p.Agent.ID)
	if err != nil {
		return err
	}
	version, err := sqlkit.NextVersion(p, current, deleted)
	if err != nil {
		return err
	}
	agentJSON, policyJSON, err := sqlkit.EncodePolicy(tenantID, p, version)
	if err != nil {
		return err
	}
	if err := ps.insertVersion(ctx, tenantID, p.Agent.ID, version, false, deleted, agentJSON, policyJSON); err != nil {
		return err
	}
	if p.Agent.Version == 0 {
		p.Agent.Version = version
	}
	return nil
}

// insertVersion inserts an agent's next version (or deletion marker) and,
// with prune, removes the older ones. VERSION_CONFLICT when the number is
// taken. After a lost connection the insert is sent again admitting the
// row its lost send inserted, so it succeeds whether that send landed or
// not; only another row at the version is a conflict. Pruning is tidying
// only: the history reads only versions after the newest deletion marker,
// whatever is left.
func (ps *Policies) insertVersion(ctx context.Context, tenantID, agentID string, version int64, deleted, prune bool,
	agent, policy string) error {
	ictx, cancel := ps.db.op(ctx)
	defer cancel()
	var agentCol, policyCol any
	if !deleted {
		agentCol, policyCol = agent, policy
	}
	savedAt := ps.db.clock.Now()
	var inserted bool
	sql := sqlInsertVersion
	err := retryIdempotent(ictx, func() error {
		tag, err := ps.db.pool.Exec(ictx, sql, tenantID, agentID, version, deleted, agentCol, policyCol, savedAt)
		inserted = tag.RowsAffected() > 0
		if answerLost(err) {
			sql = sqlInsertVersionAgain
		}
		return err
	})
	if err != nil {
		return fail(err, "save policy")
	}
	if !inserted {
		return sqlkit.VersionConflict(agentID, version-1)
	}
	if !prune {
		return nil
	}
	err = retryIdempotent(ictx, func() error {
		_, err := ps.db.pool.Exec(ictx, sqlPruneVersions, tenantID, agentID, version)
		return err
	})
	if err != nil {
		ps.db.log.Warn("old policy versions not pruned", zap.String("tenant_id", tenantID), zap.String("agent_id", agentID), zap.Error(err))
	}
	return nil
}

// ListAgents implements ports.PolicyStore: agents by id at their newest
// version, deleted ones left out.
func (ps *Policies) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	after, err := ports.AgentCursors.After(page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	out, err := readPage(ctx, ps.db, limit, sqlkit.AgentItem(tenantID), sqlListAgents, tenantID, after, limit+1)
	return out, fail(err, "list agents")
}

// DeleteAgent implements ports.PolicyStore: the deletion marker is
// inserted as the next version, racing any save of that version.
func (ps *Policies) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	current, deleted, err := ps.storedVersion(ctx, tenantID, agentID)
	if err != nil {
		return err
	}
	if current == 0 || deleted {
		return sqlkit.AgentNotFound(agentID)
	}
	err = ps.insertVersion(ctx, tenantID, agentID, current+1, true, true, "", "")
	if domain.IsCode(err, domain.CodeVersionConflict) {
		return domain.Errorf(domain.CodeVersionConflict, "agent %s changed while it was being deleted; nothing was deleted", agentID)
	}
	return err
}
