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

// policyDoc is one version of one agent's policy. The unique index on
// (tenant_id, agent_id, version) makes the insert of version v+1 the
// commit point of a change: of concurrent savers exactly one inserts it.
// Bodies are JSON text, so the stored policy round-trips exactly as the
// API reads and writes it.
type policyDoc struct {
	TenantID string    `bson:"tenant_id"`
	AgentID  string    `bson:"agent_id"`
	Version  int64     `bson:"version"`
	Agent    string    `bson:"agent"`  // JSON of the agent, for listings
	Policy   string    `bson:"policy"` // JSON of the whole policy
	SavedAt  time.Time `bson:"saved_at"`
}

func agentFilter(tenantID, agentID string) bson.D {
	return bson.D{{Key: "tenant_id", Value: tenantID}, {Key: "agent_id", Value: agentID}}
}

var newestVersionFirst = bson.D{{Key: "version", Value: -1}}

func agentNotFound(agentID string) error {
	return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
}

// GetPolicy implements ports.PolicyStore: one round trip.
func (s *Store) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc policyDoc
	err := s.policies.FindOne(ctx, agentFilter(tenantID, agentID),
		options.FindOne().SetSort(newestVersionFirst).SetProjection(bson.D{{Key: "policy", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, agentNotFound(agentID)
	}
	if err != nil {
		return nil, s.fail(err, "get policy")
	}
	var p domain.Policy
	if err := json.Unmarshal([]byte(doc.Policy), &p); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	p.Agent.TenantID = tenantID
	return &p, nil
}

// AgentVersion implements ports.PolicyStore: one round trip.
func (s *Store) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	v, err := s.storedVersion(ctx, tenantID, agentID)
	if err == nil && v == 0 {
		err = agentNotFound(agentID)
	}
	return v, err
}

// storedVersion returns the agent's newest stored version, 0 when none.
func (s *Store) storedVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc policyDoc
	err := s.policies.FindOne(ctx, agentFilter(tenantID, agentID),
		options.FindOne().SetSort(newestVersionFirst).SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "read agent version")
	}
	return doc.Version, nil
}

// SavePolicy implements ports.PolicyStore. The stored version is read
// first so a gap (saving v+2) is refused; the insert of the next version
// is the commit point, so of concurrent savers of one version exactly one
// wins and the rest get VERSION_CONFLICT. Older versions are then pruned;
// a crash before the prune leaves them behind, harmlessly, since every
// read takes the newest. Three round trips.
func (s *Store) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	if p == nil || p.Agent.ID == "" {
		return domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "is required"})
	}
	stored := *p
	stored.Agent.TenantID = tenantID
	policyJSON, err := json.Marshal(&stored)
	if err != nil {
		return domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	agentJSON, err := json.Marshal(&stored.Agent)
	if err != nil {
		return domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	current, err := s.storedVersion(ctx, tenantID, p.Agent.ID)
	if err != nil {
		return err
	}
	if p.Agent.Version != current+1 {
		return versionConflict(p.Agent.ID, current)
	}
	ictx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.policies.InsertOne(ictx, policyDoc{
		TenantID: tenantID, AgentID: p.Agent.ID, Version: p.Agent.Version,
		Agent: string(agentJSON), Policy: string(policyJSON), SavedAt: s.clock.Now(),
	})
	if mdb.IsDuplicateKeyError(err) {
		return versionConflict(p.Agent.ID, p.Agent.Version)
	}
	if err != nil {
		return s.fail(err, "save policy")
	}
	pctx, cancelPrune := s.op(ctx)
	defer cancelPrune()
	prune := append(agentFilter(tenantID, p.Agent.ID), bson.E{Key: "version", Value: bson.D{{Key: "$lt", Value: p.Agent.Version}}})
	if _, err := s.policies.DeleteMany(pctx, prune); err != nil {
		s.log.Warn("old policy versions not pruned", zap.String("tenant_id", tenantID),
			zap.String("agent_id", p.Agent.ID), zap.Error(err))
	}
	return nil
}

func versionConflict(agentID string, current int64) error {
	return domain.Errorf(domain.CodeVersionConflict, "agent %s is at version %d; expected to write version %d", agentID, current, current+1)
}

// ListAgents implements ports.PolicyStore: agents by id, current versions,
// one round trip. Versions not yet pruned are skipped as the cursor walks.
func (s *Store) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	filter := bson.D{{Key: "tenant_id", Value: tenantID}}
	if after != "" {
		filter = append(filter, bson.E{Key: "agent_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.policies.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "agent_id", Value: 1}, {Key: "version", Value: -1}}).
		SetProjection(bson.D{{Key: "agent_id", Value: 1}, {Key: "agent", Value: 1}}).
		SetBatchSize(int32(limit+2)))
	if err != nil {
		return ports.Page[domain.Agent]{}, s.fail(err, "list agents")
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := ports.Page[domain.Agent]{Items: []domain.Agent{}}
	last := ""
	for cur.Next(ctx) {
		var doc policyDoc
		if err := cur.Decode(&doc); err != nil {
			return ports.Page[domain.Agent]{}, s.fail(err, "decode agent")
		}
		if doc.AgentID == last {
			continue // an older version not yet pruned
		}
		if len(out.Items) == limit {
			out.NextCursor = encodeCursor(last)
			break
		}
		last = doc.AgentID
		var a domain.Agent
		if err := json.Unmarshal([]byte(doc.Agent), &a); err != nil {
			return ports.Page[domain.Agent]{}, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
		}
		a.TenantID = tenantID
		out.Items = append(out.Items, a)
	}
	if err := cur.Err(); err != nil {
		return ports.Page[domain.Agent]{}, s.fail(err, "list agents")
	}
	return out, nil
}

// DeleteAgent implements ports.PolicyStore: one round trip.
func (s *Store) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.policies.DeleteMany(ctx, agentFilter(tenantID, agentID))
	if err != nil {
		return s.fail(err, "delete agent")
	}
	if res.DeletedCount == 0 {
		return agentNotFound(agentID)
	}
	return nil
}
