package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
	"focal/ports"
)

// Idempotency records.
//
// A record is one document in idempotency_keys whose _id is a hash of
// (tenant, key): claiming is inserting it, which exactly one of any number
// of concurrent claimers achieves. Completing is one update filtered by
// {_id, owner, done: false, unexpired}, and releasing one delete with the
// same filter; only the owner ever writes its own claim, so neither races
// another writer.
//
// An expired record is replaced by deleting it and inserting anew. That
// delete is the one write aimed at someone else's document, so it goes
// through a takeover marker (takeover.go): exactly one claimer deletes the
// expired record, the others wait for the key to change and then claim
// like anyone else.
//
// Round trips: a fresh key is claimed with one insert; a running or
// finished record costs the insert and one read; replacing an expired
// record five (insert, read, marker, delete, insert). Get, Complete and
// Release are one each.

// idemPurgeGrace keeps expired records a while before a TTL index may
// remove them (every read checks expiry itself).
const idemPurgeGrace = time.Minute

type idemDoc struct {
	ID          string `bson:"_id"`
	TenantID    string `bson:"tenant_id"`
	Key         string `bson:"key"`
	Fingerprint string `bson:"fingerprint"`
	Owner       string `bson:"owner"`
	Done        bool   `bson:"done"`
	Status      int    `bson:"status"`
	// Header is the JSON of the header map: header names may hold "." and
	// "$", which BSON field names should not.
	Header    string    `bson:"header,omitempty"`
	Body      []byte    `bson:"body,omitempty"`
	ExpiresNS int64     `bson:"expires_ns"`
	ExpiresAt time.Time `bson:"expires_at"` // expiry plus a grace, for the TTL index
}

func idemID(tenantID, key string) string {
	h := sha256.Sum256([]byte(tenantID + "\x00" + key))
	return hex.EncodeToString(h[:])
}

func (d *idemDoc) live(now time.Time) bool { return now.UnixNano() < d.ExpiresNS }

func (d *idemDoc) record() (*ports.IdempotencyRecord, error) {
	r := &ports.IdempotencyRecord{
		TenantID: d.TenantID, Key: d.Key, Fingerprint: d.Fingerprint, Owner: d.Owner,
		Done: d.Done, Status: d.Status, Body: d.Body, ExpiresAt: time.Unix(0, d.ExpiresNS),
	}
	if d.Header != "" {
		if err := json.Unmarshal([]byte(d.Header), &r.Header); err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "a stored idempotency record cannot be read")
		}
	}
	return r, nil
}

// claimFilter matches the unfinished, unexpired claim of owner.
func (s *Store) claimFilter(tenantID, key, owner string) bson.D {
	return bson.D{{Key: "_id", Value: idemID(tenantID, key)}, {Key: "owner", Value: owner},
		{Key: "done", Value: false}, {Key: "expires_ns", Value: bson.D{{Key: "$gt", Value: s.clock.Now().UnixNano()}}}}
}

// ClaimIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	if rec.Key == "" || rec.Owner == "" {
		return nil, false, domain.InvalidFields(domain.FieldError{Field: "idempotency_key", Message: "a key and an owner are required"})
	}
	doc := &idemDoc{ID: idemID(rec.TenantID, rec.Key), TenantID: rec.TenantID, Key: rec.Key,
		Fingerprint: rec.Fingerprint, Owner: rec.Owner, ExpiresNS: rec.ExpiresAt.UnixNano(),
		ExpiresAt: rec.ExpiresAt.Add(idemPurgeGrace)}
	deadline := s.clock.Now().Add(2 * takeoverTTL)
	poll := minPoll
	for {
		won, err := s.insertOnce(ctx, s.idem, doc, "claim idempotency key")
		if err != nil {
			return nil, false, err
		}
		if won {
			cur, err := doc.record()
			return cur, true, err
		}
		cur, err := s.findIdem(ctx, doc.ID)
		if err != nil {
			return nil, false, err
		}
		if cur != nil && cur.live(s.clock.Now()) {
			r, err := cur.record()
			return r, false, err
		}
		if cur != nil {
			deleted, err := s.takeOver(ctx, cur)
			if err != nil {
				return nil, false, err
			}
			if !deleted {
				// Another claimer holds the takeover: wait for the key to change.
				if err := sleep(ctx, jitter(poll)); err != nil {
					return nil, false, err
				}
				poll = min(2*poll, maxPoll)
			}
		}
		// Released, replaced or deleted meanwhile: insert again, for a while.
		if s.clock.Now().After(deadline) {
			return nil, false, &domain.Error{Code: domain.CodeIdempotencyInProgress, RetryAfter: time.Second,
				Message: "the record of this Idempotency-Key keeps changing; retry"}
		}
	}
}

// takeOver deletes the expired record old if this caller wins the right to
// (a takeover marker); false when another caller holds that right.
func (s *Store) takeOver(ctx context.Context, old *idemDoc) (bool, error) {
	return s.deleteOnce(ctx, s.takeovers, takeoverBase(old), old.ID, func(ctx context.Context) error {
		_, err := s.idem.DeleteOne(ctx, bson.D{{Key: "_id", Value: old.ID}, {Key: "owner", Value: old.Owner},
			{Key: "expires_ns", Value: old.ExpiresNS}})
		return err
	}, "take over an expired idempotency key")
}

// takeoverBase identifies one record, of all that ever held its key: the
// owner and expiry tell apart records that replaced each other.
func takeoverBase(d *idemDoc) string {
	h := sha256.Sum256([]byte(d.ID + "\x00" + d.Owner + "\x00" + strconv.FormatInt(d.ExpiresNS, 10)))
	return hex.EncodeToString(h[:])
}

func (s *Store) findIdem(ctx context.Context, id string) (*idemDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc idemDoc
	err := s.idem.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "read idempotency key")
	}
	return &doc, nil
}

// CompleteIdempotencyKey implements ports.IdempotencyStore: one update.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte) error {
	set := bson.D{{Key: "done", Value: true}, {Key: "status", Value: status}, {Key: "body", Value: body}}
	if header != nil {
		h, err := json.Marshal(header)
		if err != nil {
			return domain.WrapError(domain.CodeInternal, err, "response header cannot be stored")
		}
		set = append(set, bson.E{Key: "header", Value: string(h)})
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.idem.UpdateOne(ctx, s.claimFilter(tenantID, key, owner), bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return s.fail(err, "complete idempotency key")
	}
	if res.MatchedCount == 0 {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	return nil
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore: one delete.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.idem.DeleteOne(ctx, s.claimFilter(tenantID, key, owner))
	return s.fail(err, "release idempotency key")
}

// GetIdempotencyKey implements ports.IdempotencyStore: one read, expiry
// checked here (TTL deletion is lazy, or missing).
func (s *Store) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*ports.IdempotencyRecord, error) {
	doc, err := s.findIdem(ctx, idemID(tenantID, key))
	if err != nil || doc == nil || !doc.live(s.clock.Now()) {
		return nil, err
	}
	return doc.record()
}
