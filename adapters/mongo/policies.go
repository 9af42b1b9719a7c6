package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"

	"focal/domain"
	"focal/ports"
)

// policyDoc is one version of one agent's policy, or the deletion marker
// of a deleted agent. The unique index on (tenant_id, agent_id, version)
// makes the insert of version v+1 the commit point of a change: of
// concurrent savers exactly one inserts it. A delete is the insert of a
// marker at v+1, so it races a save of v+1 for the same key, and the
// numbering of a deleted agent continues from its marker: version numbers
// are never reused. Bodies are JSON text, so the stored policy
// round-trips exactly as the API reads and writes it.
type policyDoc struct {
	// ID is chosen by the writer, so an insert whose answer was lost can
	// be read back.
	ID       bson.ObjectID `bson:"_id"`
	TenantID string        `bson:"tenant_id"`
	AgentID  string        `bson:"agent_id"`
	Version  int64         `bson:"version"`
	Deleted  bool          `bson:"deleted,omitempty"` // a deletion marker: no agent, no policy
	Agent    string        `bson:"agent,omitempty"`   // JSON of the agent, for listings
	Policy   string        `bson:"policy,omitempty"`  // JSON of the whole policy
	SavedAt  time.Time     `bson:"saved_at"`
}

// Policies implements ports.PolicyStore on MongoDB.
type Policies struct{ db *DB }

var _ ports.PolicyStore = (*Policies)(nil)

// NewPolicies returns the policy store of db.
func NewPolicies(db *DB) *Policies { return &Policies{db: db} }

func agentFilter(tenantID, agentID string) bson.D {
	return bson.D{{Key: "tenant_id", Value: tenantID}, {Key: "agent_id", Value: agentID}}
}

var newestVersionFirst = bson.D{{Key: "version", Value: -1}}

func agentNotFound(agentID string) error {
	return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
}

// GetPolicy implements ports.PolicyStore: one round trip.
func (ps *Policies) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	var doc policyDoc
	err := ps.db.policies.FindOne(ctx, agentFilter(tenantID, agentID), options.FindOne().SetSort(newestVersionFirst).
		SetProjection(bson.D{{Key: "policy", Value: 1}, {Key: "deleted", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) || (err == nil && doc.Deleted) {
		return nil, agentNotFound(agentID)
	}
	if err != nil {
		return nil, fail(err, "get policy")
	}
	var p domain.Policy
	if err := json.Unmarshal([]byte(doc.Policy), &p); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	p.Agent.TenantID = tenantID
	return &p, nil
}

// AgentVersion implements ports.PolicyStore: one round trip.
func (ps *Policies) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	v, deleted, err := ps.storedVersion(ctx, tenantID, agentID)
	if err == nil && (v == 0 || deleted) {
		err = agentNotFound(agentID)
	}
	return v, err
}

// storedVersion returns the agent's newest stored version (0 when none)
// and whether it is a deletion marker.
func (ps *Policies) storedVersion(ctx context.Context, tenantID, agentID string) (int64, bool, error) {
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	var doc policyDoc
	err := ps.db.policies.FindOne(ctx, agentFilter(tenantID, agentID), options.FindOne().SetSort(newestVersionFirst).
		SetProjection(bson.D{{Key: "version", Value: 1}, {Key: "deleted", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fail(err, "read agent version")
	}
	return doc.Version, doc.Deleted, nil
}

// SavePolicy implements ports.PolicyStore. The stored version is read
// first, so a gap (saving v+2) is refused and a create (version 0) learns
// its number; the insert of the next version is the commit point, so of
// concurrent savers of one version exactly one wins and the rest get
// VERSION_CONFLICT. Older versions (and a deletion marker) are then
// moved to the version history (see PolicyVersions); a crash before that
// leaves them behind, harmlessly, since every read takes the newest.
// Four round trips, five when there are versions to archive.
func (ps *Policies) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	if p == nil || p.Agent.ID == "" {
		return domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "is required"})
	}
	current, deleted, err := ps.storedVersion(ctx, tenantID, p.Agent.ID)
	if err != nil {
		return err
	}
	version := p.Agent.Version
	if version == 0 && (current == 0 || deleted) {
		version = current + 1 // create: the number after the marker, or 1
	}
	if version != current+1 {
		return versionConflict(p.Agent.ID, current)
	}
	stored := *p
	stored.Agent.TenantID, stored.Agent.Version = tenantID, version
	policyJSON, err := json.Marshal(&stored)
	if err != nil {
		return domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	agentJSON, err := json.Marshal(&stored.Agent)
	if err != nil {
		return domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	err = ps.insertVersion(ctx, &policyDoc{TenantID: tenantID, AgentID: p.Agent.ID, Version: version,
		Agent: string(agentJSON), Policy: string(policyJSON), SavedAt: ps.db.clock.Now()}, "save policy")
	if err != nil {
		return err
	}
	if p.Agent.Version == 0 {
		p.Agent.Version = version // the caller learns the number it got
	}
	return nil
}

// insertVersion inserts an agent's next version (or deletion marker) and
// prunes the older ones. VERSION_CONFLICT when the number is taken.
func (ps *Policies) insertVersion(ctx context.Context, doc *policyDoc, what string) error {
	doc.ID = bson.NewObjectID()
	won, err := ps.db.insertOnce(ctx, ps.db.policies, doc, what, ours)
	if err != nil {
		return err
	}
	if !won {
		return versionConflict(doc.AgentID, doc.Version)
	}
	pctx, cancelPrune := ps.db.op(ctx)
	defer cancelPrune()
	if err := ps.db.retireVersions(pctx, doc); err != nil {
		ps.db.log.Warn("old policy versions not pruned", zap.String("tenant_id", doc.TenantID),
			zap.String("agent_id", doc.AgentID), zap.Error(err))
	}
	return nil
}

func versionConflict(agentID string, current int64) error {
	return domain.Errorf(domain.CodeVersionConflict, "agent %s is at version %d; expected to write version %d", agentID, current, current+1)
}

// ListAgents implements ports.PolicyStore: agents by id, current versions,
// one round trip (more batches when many deleted agents or unpruned
// versions lie in the way). Versions not yet pruned and deleted agents are
// skipped as the cursor walks.
func (ps *Policies) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	after, err := ports.AgentCursors.After(page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	filter := bson.D{{Key: "tenant_id", Value: tenantID}}
	if after != "" {
		filter = append(filter, bson.E{Key: "agent_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	ctx, cancel := ps.db.op(ctx)
	defer cancel()
	cur, err := ps.db.policies.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "agent_id", Value: 1}, {Key: "version", Value: -1}}).
		SetProjection(bson.D{{Key: "agent_id", Value: 1}, {Key: "agent", Value: 1}, {Key: "deleted", Value: 1}}).
		SetBatchSize(int32(limit+2)))
	if err != nil {
		return ports.Page[domain.Agent]{}, fail(err, "list agents")
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := ports.Page[domain.Agent]{Items: []domain.Agent{}}
	seen, listed := "", ""
	for cur.Next(ctx) {
		var doc policyDoc
		if err := cur.Decode(&doc); err != nil {
			return ports.Page[domain.Agent]{}, fail(err, "decode agent")
		}
		if doc.AgentID == seen {
			continue // an older version not yet pruned
		}
		seen = doc.AgentID
		if doc.Deleted {
			continue // a deleted agent
		}
		if len(out.Items) == limit {
			out.NextCursor = ports.AgentCursors.Cursor(tenantID, listed)
			break
		}
		listed = doc.AgentID
		var a domain.Agent
		if err := json.Unmarshal([]byte(doc.Agent), &a); err != nil {
			return ports.Page[domain.Agent]{}, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
		}
		a.TenantID = tenantID
		out.Items = append(out.Items, a)
	}
	if err := cur.Err(); err != nil {
		return ports.Page[domain.Agent]{}, fail(err, "list agents")
	}
	return out, nil
}

// DeleteAgent implements ports.PolicyStore: the newest version is read,
// then the deletion marker inserted as the next version, which is the
// commit point (a save of that version racing it gets VERSION_CONFLICT, or
// makes this delete get it), then older versions and the agent's history
// are deleted. Four round trips.
func (ps *Policies) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	current, deleted, err := ps.storedVersion(ctx, tenantID, agentID)
	if err != nil {
		return err
	}
	if current == 0 || deleted {
		return agentNotFound(agentID)
	}
	err = ps.insertVersion(ctx, &policyDoc{TenantID: tenantID, AgentID: agentID, Version: current + 1,
		Deleted: true, SavedAt: ps.db.clock.Now()}, "delete agent")
	if domain.IsCode(err, domain.CodeVersionConflict) {
		return domain.Errorf(domain.CodeVersionConflict, "agent %s changed while it was being deleted; nothing was deleted", agentID)
	}
	return err
}
