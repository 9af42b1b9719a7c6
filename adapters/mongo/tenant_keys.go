package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// TenantModelKeys implements ports.TenantModelKeyStore on MongoDB: each
// (tenant, provider) key is a series of insert-once revisions (see
// revisions). It is safe for concurrent use.
type TenantModelKeys struct {
	revs revisions
}

var _ ports.TenantModelKeyStore = (*TenantModelKeys)(nil)

// keyDoc is one revision of a tenant's key for one provider.
type keyDoc struct {
	TenantID   string    `bson:"tenant_id"`
	Provider   string    `bson:"provider"`
	Revision   int64     `bson:"revision"`
	Deleted    bool      `bson:"deleted,omitempty"`
	KeyID      string    `bson:"key_id,omitempty"`
	Nonce      []byte    `bson:"nonce,omitempty"`
	Ciphertext []byte    `bson:"ciphertext,omitempty"`
	Hint       string    `bson:"hint,omitempty"`
	BaseURL    string    `bson:"base_url,omitempty"`
	Models     []string  `bson:"models,omitempty"`
	SetAt      time.Time `bson:"set_at"`
}

func (d keyDoc) key() ports.TenantModelKey {
	return ports.TenantModelKey{TenantID: d.TenantID, Provider: d.Provider, Revision: d.Revision,
		Secret: ports.SealedSecret{KeyID: d.KeyID, Nonce: d.Nonce, Ciphertext: d.Ciphertext},
		Hint:   d.Hint, BaseURL: d.BaseURL, Models: d.Models, SetAt: d.SetAt}
}

func docOfKey(k ports.TenantModelKey, rev int64) keyDoc {
	return keyDoc{TenantID: k.TenantID, Provider: k.Provider, Revision: rev, KeyID: k.Secret.KeyID, Nonce: k.Secret.Nonce,
		Ciphertext: k.Secret.Ciphertext, Hint: k.Hint, BaseURL: k.BaseURL, Models: k.Models, SetAt: k.SetAt}
}

// NewTenantModelKeys returns the key store of db.
func NewTenantModelKeys(db *DB) *TenantModelKeys {
	return &TenantModelKeys{revs: revisions{db: db, of: func(db *DB) *mdb.Collection { return db.tenantKeys }}}
}

func keyOf(tenantID, provider string) bson.D {
	return bson.D{{Key: "tenant_id", Value: tenantID}, {Key: "provider", Value: provider}}
}

// PutTenantModelKey implements ports.TenantModelKeyStore: two round trips
// and a prune.
func (s *TenantModelKeys) PutTenantModelKey(ctx context.Context, rec ports.TenantModelKey) (int64, error) {
	return s.revs.write(ctx, keyOf(rec.TenantID, rec.Provider), -1, nil, func(rev int64, _ bool) (any, error) {
		return docOfKey(rec, rev), nil
	})
}

// TenantModelKeys implements ports.TenantModelKeyStore: one round trip.
func (s *TenantModelKeys) TenantModelKeys(ctx context.Context, tenantID string) ([]ports.TenantModelKey, error) {
	page, err := s.list(ctx, bson.D{{Key: "tenant_id", Value: tenantID}}, 0)
	return page.Items, err
}

// list reads the newest revision of each key matching filter, by (tenant,
// provider), skipping tombstones; limit > 0 stops after limit keys.
func (s *TenantModelKeys) list(ctx context.Context, filter bson.D, limit int) (ports.Page[ports.TenantModelKey], error) {
	ctx, cancel := s.revs.db.op(ctx)
	defer cancel()
	cur, err := s.revs.col().Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "tenant_id", Value: 1}, {Key: "provider", Value: 1}, {Key: "revision", Value: -1}}))
	if err != nil {
		return ports.Page[ports.TenantModelKey]{}, fail(err, "list tenant model keys")
	}
	defer cur.Close(context.WithoutCancel(ctx))
	out := ports.Page[ports.TenantModelKey]{Items: []ports.TenantModelKey{}}
	seen := ""
	for cur.Next(ctx) {
		var d keyDoc
		if err := cur.Decode(&d); err != nil {
			return out, fail(err, "decode a tenant model key")
		}
		id := d.TenantID + "/" + d.Provider
		if id == seen {
			continue // an older revision not yet pruned
		}
		seen = id
		if d.Deleted {
			continue
		}
		if limit > 0 && len(out.Items) == limit {
			out.NextCursor = ports.TenantModelKeyCursor(out.Items[limit-1])
			break
		}
		out.Items = append(out.Items, d.key())
	}
	return out, fail(cur.Err(), "list tenant model keys")
}

// DeleteTenantModelKey implements ports.TenantModelKeyStore: a tombstone
// revision.
func (s *TenantModelKeys) DeleteTenantModelKey(ctx context.Context, tenantID, provider string) error {
	_, err := s.revs.write(ctx, keyOf(tenantID, provider), -1, nil, func(rev int64, found bool) (any, error) {
		if !found {
			return nil, domain.Errorf(domain.CodeNotFound, "no %s key is set", provider)
		}
		return keyDoc{TenantID: tenantID, Provider: provider, Revision: rev, Deleted: true}, nil
	})
	return err
}

// ListAllTenantModelKeys implements ports.TenantModelKeyStore.
func (s *TenantModelKeys) ListAllTenantModelKeys(ctx context.Context, page ports.PageRequest) (ports.Page[ports.TenantModelKey], error) {
	tenant, provider, err := ports.TenantModelKeyAfter(page.Cursor)
	if err != nil {
		return ports.Page[ports.TenantModelKey]{}, err
	}
	filter := bson.D{}
	if page.Cursor != "" {
		filter = bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "tenant_id", Value: bson.D{{Key: "$gt", Value: tenant}}}},
			bson.D{{Key: "tenant_id", Value: tenant}, {Key: "provider", Value: bson.D{{Key: "$gt", Value: provider}}}},
		}}}
	}
	return s.list(ctx, filter, ports.PageLimit(page.Limit))
}

// ResealTenantModelKey implements ports.TenantModelKeyStore: the next
// revision, inserted only if rec.Revision is still the newest.
func (s *TenantModelKeys) ResealTenantModelKey(ctx context.Context, rec ports.TenantModelKey) error {
	var cur keyDoc
	_, err := s.revs.write(ctx, keyOf(rec.TenantID, rec.Provider), rec.Revision, &cur, func(rev int64, found bool) (any, error) {
		if !found {
			return nil, domain.Errorf(domain.CodeNotFound, "no %s key is set", rec.Provider)
		}
		next := cur
		next.Revision, next.KeyID, next.Nonce, next.Ciphertext = rev, rec.Secret.KeyID, rec.Secret.Nonce, rec.Secret.Ciphertext
		return next, nil
	})
	return err
}
