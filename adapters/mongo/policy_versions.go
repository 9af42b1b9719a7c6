package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// PolicyVersions implements ports.PolicyHistory on MongoDB. The policies
// collection holds each agent's newest version (and, until they are
// pruned, older ones); retireVersions moves what it prunes into
// policy_versions, deletion markers included, so a listing walks both,
// newest first, and stops at the marker that began the agent's current
// life. It is safe for concurrent use.
type PolicyVersions struct{ db *DB }

var _ ports.PolicyHistory = (*PolicyVersions)(nil)

// NewPolicyVersions returns the version history of db.
func NewPolicyVersions(db *DB) *PolicyVersions { return &PolicyVersions{db: db} }

// retireVersions removes the versions of doc's agent older than doc from
// policies once doc is stored. Older versions are first copied to the
// archive, _id and all, unless doc is a deletion marker: a deleted agent's
// history goes with it. A failed copy keeps them in policies for the next
// prune.
func (db *DB) retireVersions(ctx context.Context, doc *policyDoc) error {
	older := append(agentFilter(doc.TenantID, doc.AgentID), bson.E{Key: "version", Value: bson.D{{Key: "$lt", Value: doc.Version}}})
	if doc.Deleted {
		if _, err := db.policyVersions.DeleteMany(ctx, older); err != nil {
			return fmt.Errorf("forget the history of a deleted agent: %w", err)
		}
	} else if err := db.archiveVersions(ctx, older); err != nil {
		return err
	}
	_, err := db.policies.DeleteMany(ctx, older)
	return err
}

// archiveVersions copies the policies of filter into policy_versions.
func (db *DB) archiveVersions(ctx context.Context, filter bson.D) error {
	cur, err := db.policies.Find(ctx, filter)
	if err != nil {
		return fmt.Errorf("read versions to archive: %w", err)
	}
	var docs []policyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("read versions to archive: %w", err)
	}
	if len(docs) == 0 {
		return nil
	}
	// A version archived by an earlier, interrupted prune is a duplicate
	// here, which is fine.
	_, err = db.policyVersions.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return fmt.Errorf("archive versions: %w", err)
	}
	return nil
}

// onlyDuplicates reports whether every failure of a bulk insert was a
// duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mdb.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return mdb.IsDuplicateKeyError(err)
	}
	for _, we := range bwe.WriteErrors {
		if !mdb.IsDuplicateKeyError(we) {
			return false
		}
	}
	return true
}

// current returns the agent's newest version, AGENT_NOT_FOUND when there is
// none or it is a deletion marker.
func (v *PolicyVersions) current(ctx context.Context, tenantID, agentID string) (int64, error) {
	ctx, cancel := v.db.op(ctx)
	defer cancel()
	var doc policyDoc
	err := v.db.policies.FindOne(ctx, agentFilter(tenantID, agentID), options.FindOne().SetSort(newestVersionFirst).
		SetProjection(bson.D{{Key: "version", Value: 1}, {Key: "deleted", Value: 1}})).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) || (err == nil && doc.Deleted) {
		return 0, agentNotFound(agentID)
	}
	if err != nil {
		return 0, fail(err, "read agent version")
	}
	return doc.Version, nil
}

// find reads the docs of filter from both collections, newest first, one
// per version.
func (v *PolicyVersions) find(ctx context.Context, filter bson.D, projection bson.D, limit int64) ([]policyDoc, error) {
	read := func(col *mdb.Collection, out *[]policyDoc) func() error {
		return func() error {
			ctx, cancel := v.db.op(ctx)
			defer cancel()
			opts := options.Find().SetSort(newestVersionFirst).SetProjection(projection)
			if limit > 0 {
				opts.SetLimit(limit)
			}
			cur, err := col.Find(ctx, filter, opts)
			if err != nil {
				return fail(err, "read policy versions")
			}
			return fail(cur.All(ctx, out), "read policy versions")
		}
	}
	var live, archived []policyDoc
	if errA, errB := concurrently(read(v.db.policies, &live), read(v.db.policyVersions, &archived)); errA != nil || errB != nil {
		return nil, errors.Join(errA, errB)
	}
	all := append(live, archived...)
	slices.SortStableFunc(all, func(a, b policyDoc) int { return -cmpInt64(a.Version, b.Version) })
	return slices.CompactFunc(all, func(a, b policyDoc) bool { return a.Version == b.Version }), nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ListPolicyVersions implements ports.PolicyHistory: three round trips,
// two of them concurrent. The cursor is the last listed version.
func (v *PolicyVersions) ListPolicyVersions(ctx context.Context, tenantID, agentID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	below, paged, err := ports.VersionCursors.After(page.Cursor, tenantID, agentID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	if _, err := v.current(ctx, tenantID, agentID); err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	filter := agentFilter(tenantID, agentID)
	if paged {
		filter = append(filter, bson.E{Key: "version", Value: bson.D{{Key: "$lt", Value: below}}})
	}
	docs, err := v.find(ctx, filter, bson.D{{Key: "version", Value: 1}, {Key: "deleted", Value: 1}, {Key: "agent", Value: 1}}, int64(limit+1))
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	out := ports.Page[domain.Agent]{Items: []domain.Agent{}}
	for _, doc := range docs {
		if doc.Deleted {
			break // the versions before it belong to an earlier life
		}
		if len(out.Items) == limit {
			out.NextCursor = ports.VersionCursors.Cursor(tenantID, agentID, out.Items[limit-1].Version)
			break
		}
		var a domain.Agent
		if err := json.Unmarshal([]byte(doc.Agent), &a); err != nil {
			return ports.Page[domain.Agent]{}, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
		}
		a.TenantID = tenantID
		out.Items = append(out.Items, a)
	}
	return out, nil
}

// GetPolicyVersion implements ports.PolicyHistory: three round trips, two
// of them concurrent.
func (v *PolicyVersions) GetPolicyVersion(ctx context.Context, tenantID, agentID string, version int64) (*domain.Policy, error) {
	current, err := v.current(ctx, tenantID, agentID)
	if err != nil {
		return nil, err
	}
	missing := domain.Errorf(domain.CodeNotFound, "agent %s has no version %d", agentID, version)
	if version < 1 || version > current {
		return nil, missing
	}
	// The version itself, and any deletion marker after it: a marker means
	// the version belongs to an earlier life of the agent.
	filter := append(agentFilter(tenantID, agentID),
		bson.E{Key: "version", Value: bson.D{{Key: "$gte", Value: version}}},
		bson.E{Key: "$or", Value: bson.A{bson.D{{Key: "version", Value: version}}, bson.D{{Key: "deleted", Value: true}}}})
	docs, err := v.find(ctx, filter, bson.D{{Key: "version", Value: 1}, {Key: "deleted", Value: 1}, {Key: "policy", Value: 1}}, 0)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 || docs[0].Version != version || docs[0].Deleted {
		return nil, missing
	}
	var p domain.Policy
	if err := json.Unmarshal([]byte(docs[0].Policy), &p); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	p.Agent.TenantID = tenantID
	return &p, nil
}
