package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/ports"
)

// Usage implements ports.UsageMeter on MongoDB: one document per (tenant,
// month, holder), written only by its holder, one write at a time, so no
// two writers ever race on a document; a month's usage is the sum of its
// holders' documents (a handful: one per instance that served the tenant).
// It is safe for concurrent use.
type Usage struct{ db *DB }

var _ ports.UsageMeter = (*Usage)(nil)

type usageDoc struct {
	ID         string    `bson:"_id"`
	TenantID   string    `bson:"tenant_id"`
	Month      string    `bson:"month"`
	Holder     string    `bson:"holder"`
	Prompt     int64     `bson:"prompt"`
	Completion int64     `bson:"completion"`
	Turns      int64     `bson:"turns"`
	UpdatedAt  time.Time `bson:"updated_at"`
}

// NewUsage returns the usage meter of db.
func NewUsage(db *DB) *Usage { return &Usage{db: db} }

// RecordUsage implements ports.UsageMeter: one round trip.
func (u *Usage) RecordUsage(ctx context.Context, rec ports.UsageRecord) error {
	ctx, cancel := u.db.op(ctx)
	defer cancel()
	id := rec.TenantID + "|" + rec.Month + "|" + rec.Holder
	_, err := u.db.tenantUsage.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, usageDoc{ID: id, TenantID: rec.TenantID, Month: rec.Month,
		Holder: rec.Holder, Prompt: rec.Prompt, Completion: rec.Completion, Turns: rec.Turns, UpdatedAt: rec.UpdatedAt},
		options.Replace().SetUpsert(true))
	return fail(err, "record usage")
}

// MonthUsage implements ports.UsageMeter: one round trip; the sum is taken
// here, since some compatible servers lack parts of the aggregation
// language.
func (u *Usage) MonthUsage(ctx context.Context, tenantID, month string) (ports.UsageTotals, error) {
	ctx, cancel := u.db.op(ctx)
	defer cancel()
	cur, err := u.db.tenantUsage.Find(ctx, bson.D{{Key: "tenant_id", Value: tenantID}, {Key: "month", Value: month}})
	if err != nil {
		return ports.UsageTotals{}, fail(err, "read usage")
	}
	var docs []usageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return ports.UsageTotals{}, fail(err, "read usage")
	}
	var t ports.UsageTotals
	for _, d := range docs {
		t.Prompt += d.Prompt
		t.Completion += d.Completion
		t.Turns += d.Turns
	}
	return t, nil
}
