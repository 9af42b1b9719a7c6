package mongo

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
	"focal/ports"
)

// TenantList implements ports.TenantLister on MongoDB: the distinct
// tenant ids of each collection that holds a tenant's lasting data, one
// aggregation ($match, $sort, $group: stages FerretDB has) per
// collection, merged here.
//
// Policies, model keys and budgets keep deletion markers and may keep
// versions a failed prune left behind, so a tenant found only there is
// confirmed by the reads that define it (ListAgents, TenantModelKeys,
// TenantBudget) before it is listed. Each page asks for every tenant id
// after the cursor: fine for the thousands of tenants a store holds, and
// rare (a tool moving a whole store).
type TenantList struct{ db *DB }

var _ ports.TenantLister = (*TenantList)(nil)

// NewTenantList returns the tenant listing of db.
func NewTenantList(db *DB) *TenantList { return &TenantList{db: db} }

// held are the kinds of record a tenant was found with, to confirm.
type held uint8

const (
	heldSession held = 1 << iota // nothing to confirm: sessions are deleted whole
	heldAgent
	heldKey
	heldBudget
)

// ListTenants implements ports.TenantLister: four round trips, and up to
// three more for each tenant on the page with no session.
func (l *TenantList) ListTenants(ctx context.Context, page ports.PageRequest) (ports.Page[string], error) {
	after, err := ports.TenantCursors.After(page.Cursor)
	if err != nil {
		return ports.Page[string]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	found, err := l.candidates(ctx, after)
	if err != nil {
		return ports.Page[string]{}, err
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var listed []string
	for _, id := range ids {
		if len(listed) > limit {
			break
		}
		ok, err := l.confirm(ctx, id, found[id])
		if err != nil {
			return ports.Page[string]{}, err
		}
		if ok {
			listed = append(listed, id)
		}
	}
	out := ports.Page[string]{Items: listed}
	if len(listed) > limit {
		out = ports.Page[string]{Items: listed[:limit], NextCursor: ports.TenantCursors.Cursor(listed[limit-1])}
	}
	if out.Items == nil {
		out.Items = []string{}
	}
	return out, nil
}

// candidates are the tenant ids after `after` with a session or a record
// that is not a deletion marker, with the kinds they were found with.
func (l *TenantList) candidates(ctx context.Context, after string) (map[string]held, error) {
	afterFilter := bson.E{Key: "tenant_id", Value: bson.D{{Key: "$gt", Value: after}}}
	live := bson.D{afterFilter, {Key: "deleted", Value: bson.D{{Key: "$ne", Value: true}}}}
	found := map[string]held{}
	for _, src := range []struct {
		col    *mdb.Collection
		filter bson.D
		kind   held
	}{
		{l.db.policies, live, heldAgent},
		{l.db.tenantKeys, live, heldKey},
		{l.db.tenantBudgets, live, heldBudget},
		{l.db.sessions, bson.D{afterFilter}, heldSession},
	} {
		ids, err := l.distinct(ctx, src.col, src.filter)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			found[id] |= src.kind
		}
	}
	return found, nil
}

// distinct returns the tenant ids of the documents of col that filter
// matches, each once. An aggregation, not the distinct command: the
// driver sends maxTimeMS with every command under a deadline, and
// FerretDB refuses it on distinct. The $sort on the indexed tenant_id
// lets MongoDB group along the index.
func (l *TenantList) distinct(ctx context.Context, col *mdb.Collection, filter bson.D) ([]string, error) {
	ctx, cancel := l.db.op(ctx)
	defer cancel()
	cur, err := col.Aggregate(ctx, mdb.Pipeline{
		{{Key: "$match", Value: filter}},
		{{Key: "$sort", Value: bson.D{{Key: "tenant_id", Value: 1}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$tenant_id"}}}},
	})
	if err != nil {
		return nil, fail(err, "list tenants")
	}
	var rows []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fail(err, "list tenants")
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, nil
}

// confirm tells whether the tenant holds a live record of a kind it was
// found with.
func (l *TenantList) confirm(ctx context.Context, tenantID string, kinds held) (bool, error) {
	if kinds&heldSession != 0 {
		return true, nil
	}
	if kinds&heldAgent != 0 {
		p, err := NewPolicies(l.db).ListAgents(ctx, tenantID, ports.PageRequest{Limit: 1})
		if err != nil || len(p.Items) > 0 {
			return err == nil, err
		}
	}
	if kinds&heldKey != 0 {
		keys, err := NewTenantModelKeys(l.db).TenantModelKeys(ctx, tenantID)
		if err != nil || len(keys) > 0 {
			return err == nil, err
		}
	}
	if kinds&heldBudget != 0 {
		_, err := NewBudgets(l.db).TenantBudget(ctx, tenantID)
		if !domain.IsCode(err, domain.CodeNotFound) {
			return err == nil, err
		}
	}
	return false, nil
}
