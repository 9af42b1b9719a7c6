package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Policies implements ports.PolicyStore on SQLite: one row per (tenant,
// agent, version). A save or a delete reads the newest version and inserts
// the next one in one write transaction; the primary key refuses a number
// taken by another process meanwhile. Every version of the agent's current
// life is kept (PolicyHistory): a delete prunes the life it ends, and the
// save that starts a new life prunes the deletion marker.
type Policies struct{ db *DB }

var _ ports.PolicyStore = (*Policies)(nil)

// NewPolicies returns the policy store of db.
func NewPolicies(db *DB) *Policies { return &Policies{db: db} }

const (
	sqlNewestVersion = `SELECT version, deleted, policy FROM policies WHERE tenant_id = ? AND agent_id = ? ORDER BY version DESC LIMIT 1`
	sqlInsertVersion = `INSERT INTO policies (tenant_id, agent_id, version, deleted, agent, policy, saved_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlPruneVersions = `DELETE FROM policies WHERE tenant_id = ? AND agent_id = ? AND version < ?`
	sqlListAgents    = `SELECT agent_id, agent FROM policies p
WHERE tenant_id = ? AND agent_id > ? AND NOT deleted
	AND version = (SELECT max(version) FROM policies q WHERE q.tenant_id = p.tenant_id AND q.agent_id = p.agent_id)
ORDER BY agent_id LIMIT ?`
)

type newest struct {
	version int64
	deleted bool
	policy  sql.NullString
}

func readNewest(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, tenantID, agentID string) (newest, error) {
	var n newest
	err := q.QueryRowContext(ctx, sqlNewestVersion, tenantID, agentID).Scan(&n.version, &n.deleted, &n.policy)
	if errors.Is(err, sql.ErrNoRows) {
		return newest{}, nil
	}
	return n, err
}

// GetPolicy implements ports.PolicyStore.
func (ps *Policies) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	n, err := readNewest(ctx, ps.db.readers, tenantID, agentID)
	if err != nil {
		return nil, fail(err, "get policy")
	}
	if n.version == 0 || n.deleted || !n.policy.Valid {
		return nil, sqlkit.AgentNotFound(agentID)
	}
	return sqlkit.DecodePolicy(tenantID, n.policy.String)
}

// AgentVersion implements ports.PolicyStore.
func (ps *Policies) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	n, err := readNewest(ctx, ps.db.readers, tenantID, agentID)
	if err != nil {
		return 0, fail(err, "read agent version")
	}
	if n.version == 0 || n.deleted {
		return 0, sqlkit.AgentNotFound(agentID)
	}
	return n.version, nil
}

// SavePolicy implements ports.PolicyStore.
func (ps *Policies) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	if err := sqlkit.CheckPolicy(p); err != nil {
		return err
	}
	var version int64
	err := ps.db.write(ctx, "save policy", func(tx *sql.Tx) error {
		cur, err := readNewest(ctx, tx, tenantID, p.Agent.ID)
		if err != nil {
			return err
		}
		if version, err = sqlkit.NextVersion(p, cur.version, cur.deleted); err != nil {
			return err
		}
		agentJSON, policyJSON, err := sqlkit.EncodePolicy(tenantID, p, version)
		if err != nil {
			return err
		}
		return ps.insertVersion(ctx, tx, tenantID, p.Agent.ID, version, false, cur.deleted, agentJSON, policyJSON)
	})
	if err == nil && p.Agent.Version == 0 {
		p.Agent.Version = version
	}
	return err
}

func (ps *Policies) insertVersion(ctx context.Context, tx *sql.Tx, tenantID, agentID string, version int64, deleted, prune bool,
	agent, policy string) error {
	var agentCol, policyCol any
	if !deleted {
		agentCol, policyCol = agent, policy
	}
	_, err := tx.ExecContext(ctx, sqlInsertVersion, tenantID, agentID, version, deleted, agentCol, policyCol, ps.db.clock.Now().UnixNano())
	if duplicate(err) {
		return sqlkit.VersionConflict(agentID, version-1)
	}
	if err != nil || !prune {
		return err
	}
	_, err = tx.ExecContext(ctx, sqlPruneVersions, tenantID, agentID, version)
	return err
}

// ListAgents implements ports.PolicyStore.
func (ps *Policies) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	after, err := ports.AgentCursors.After(page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	rows, err := ps.db.readers.QueryContext(ctx, sqlListAgents, tenantID, after, limit+1)
	if err != nil {
		return ports.Page[domain.Agent]{}, fail(err, "list agents")
	}
	defer rows.Close()
	out, err := sqlkit.ReadPage(rows, limit, sqlkit.AgentItem(tenantID))
	return out, fail(err, "list agents")
}

// DeleteAgent implements ports.PolicyStore: the deletion marker is the
// next version.
func (ps *Policies) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	return ps.db.write(ctx, "delete agent", func(tx *sql.Tx) error {
		cur, err := readNewest(ctx, tx, tenantID, agentID)
		if err != nil {
			return err
		}
		if cur.version == 0 || cur.deleted {
			return sqlkit.AgentNotFound(agentID)
		}
		return ps.insertVersion(ctx, tx, tenantID, agentID, cur.version+1, true, true, "", "")
	})
}
