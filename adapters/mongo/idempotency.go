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
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Idempotency records.
//
// A record is one document in idempotency_keys whose _id is a hash of
// (tenant, key). Completing is one update filtered by {_id, owner, done:
// false, unexpired}, and releasing one delete with the same filter; only
// the owner ever writes its own claim, so neither races another writer.
// A claim expires soon after its request must have answered (the caller's
// ExpiresAt); completing it extends it to the full retention.
//
// Claiming writes the record when the key has none, or only an expired
// one, which exactly one of any number of concurrent claimers achieves.
// On MongoDB that is one upsert whose filter admits only an expired
// record: a live one makes it meet the _id, a duplicate key, and the
// record in force is then read. Without atomic updates (FerretDB) it is an
// insert, and an expired record is first deleted by the one claimer that
// wins its takeover marker (takeover.go).
//
// A claim or completion whose answer was lost is read back: the claim is
// this caller's when the stored record names its owner, the completion
// landed when it is done under that owner.
//
// Expiry is judged by the instances' clocks: a skew of seconds is small
// beside a claim's minutes and a record's hours.
//
// Round trips: a fresh key (or an expired one, on MongoDB) is claimed with
// one write; a running or finished record costs the write and one read.
// Get, Complete and Release are one each.

// IdempotencyKeys implements ports.IdempotencyStore on MongoDB.
type IdempotencyKeys struct{ db *DB }

var _ ports.IdempotencyStore = (*IdempotencyKeys)(nil)

// NewIdempotencyKeys returns the idempotency store of db.
func NewIdempotencyKeys(db *DB) *IdempotencyKeys { return &IdempotencyKeys{db: db} }

// idemPurgeGrace keeps expired records a while before a TTL index may
// remove them (every read checks expiry itself).
const idemPurgeGrace = time.Minute

type idemDoc struct {
	ID          string `bson:"_id"`
	TenantID    string `bson:"tenant_id"`
	Key         string `bson:"key"`
	Fingerprint string `bson:"fingerprint"`
	Owner       string `bson:"owner"`
	Request     string `bson:"request"`
	TurnID      string `bson:"turn_id,omitempty"`
	Done        bool   `bson:"done"`
	Status      int    `bson:"status"`
	// Header is the JSON of the header map: header names may hold "." and
	// "$", which BSON field names should not.
	Header    string    `bson:"header,omitempty"`
	Body      []byte    `bson:"body,omitempty"`
	HeldNS    int64     `bson:"held_ns"`
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
		TenantID: d.TenantID, Key: d.Key, Fingerprint: d.Fingerprint, Owner: d.Owner, Request: d.Request, TurnID: d.TurnID,
		Done: d.Done, Status: d.Status, Body: d.Body, HeldUntil: time.Unix(0, d.HeldNS), ExpiresAt: time.Unix(0, d.ExpiresNS),
	}
	if d.Header != "" {
		if err := json.Unmarshal([]byte(d.Header), &r.Header); err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "a stored idempotency record cannot be read")
		}
	}
	return r, nil
}

// claimFilter matches the unfinished, unexpired claim of owner.
func (k *IdempotencyKeys) claimFilter(tenantID, key, owner string) bson.D {
	return bson.D{{Key: "_id", Value: idemID(tenantID, key)}, {Key: "owner", Value: owner},
		{Key: "done", Value: false}, {Key: "expires_ns", Value: bson.D{{Key: "$gt", Value: k.db.clock.Now().UnixNano()}}}}
}

// claimAttempt is what one attempt at a claim found: the answer (done),
// or whether to pause before writing again.
type claimAttempt struct {
	rec  *ports.IdempotencyRecord
	won  bool
	done bool
	wait bool
}

// attemptClaim writes the claim once and, when another record is there,
// reads it: this claimer's own late write, a live claim that answers, or
// one to write over (taken over first where updates are not atomic).
func (k *IdempotencyKeys) attemptClaim(ctx context.Context, doc *idemDoc) (claimAttempt, error) {
	won, err := k.write(ctx, doc)
	if err != nil {
		return claimAttempt{}, err
	}
	if won {
		cur, err := doc.record()
		return claimAttempt{rec: cur, won: true, done: true}, err
	}
	cur, err := k.find(ctx, doc.ID)
	switch {
	case err != nil:
		return claimAttempt{}, err
	case cur != nil && cur.Owner == doc.Owner && !cur.Done:
		// This claimer's own write, landed late: it holds the key.
		r, err := cur.record()
		return claimAttempt{rec: r, won: true, done: true}, err
	case cur != nil && cur.live(k.db.clock.Now()):
		r, err := cur.record()
		return claimAttempt{rec: r, done: true}, err
	case cur == nil:
		return claimAttempt{wait: true}, nil // released, or written but not yet on a majority: never spin
	case !k.db.caps.atomicUpdates:
		deleted, err := k.takeOver(ctx, cur)
		return claimAttempt{wait: !deleted}, err // another claimer holds the takeover: wait for the key to change
	}
	return claimAttempt{}, nil
}

// ClaimIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	if rec.Key == "" || rec.Owner == "" {
		return nil, false, domain.InvalidFields(domain.FieldError{Field: "idempotency_key", Message: "a key and an owner are required"})
	}
	doc := &idemDoc{ID: idemID(rec.TenantID, rec.Key), TenantID: rec.TenantID, Key: rec.Key,
		Fingerprint: rec.Fingerprint, Owner: rec.Owner, Request: rec.Request, TurnID: rec.TurnID,
		HeldNS: rec.HeldUntil.UnixNano(), ExpiresNS: rec.ExpiresAt.UnixNano(), ExpiresAt: rec.ExpiresAt.Add(idemPurgeGrace)}
	deadline := k.db.clock.Now().Add(2 * takeoverTTL)
	poll := minPoll
	for {
		st, err := k.attemptClaim(ctx, doc)
		if err != nil || st.done {
			return st.rec, st.won, err
		}
		if st.wait {
			if err := sleep(ctx, jitter(poll)); err != nil {
				return nil, false, err
			}
			poll = min(2*poll, maxPoll)
		}
		// Released, replaced or expired meanwhile: write again, for a while.
		if k.db.clock.Now().After(deadline) {
			return nil, false, &domain.Error{Code: domain.CodeIdempotencyInProgress, RetryAfter: time.Second,
				Message: "the record of this Idempotency-Key keeps changing; retry"}
		}
	}
}

// write stores doc as the key's claim if the key has no live record: an
// upsert admitting only an expired record on MongoDB, an insert elsewhere.
// A lost answer is read back.
func (k *IdempotencyKeys) write(ctx context.Context, doc *idemDoc) (bool, error) {
	db := k.db
	mine := fieldIs("owner", doc.Owner)
	if !db.caps.atomicUpdates {
		return db.insertOnce(ctx, db.idem, doc, "claim idempotency key", readBack{mine: mine})
	}
	filter := replaceableClaim(doc.ID, db.clock.Now())
	wctx, cancel := db.op(ctx)
	_, err := db.idem.ReplaceOne(wctx, filter, doc, options.Replace().SetUpsert(true))
	cancel()
	switch {
	case err == nil:
		return true, nil
	case duplicate(err) && !transient(err):
		return false, nil
	case !transient(err):
		return false, fail(err, "claim idempotency key")
	}
	stored, readErr := db.findRaw(ctx, db.idem, doc.ID)
	if readErr != nil {
		return false, fail(err, "claim idempotency key")
	}
	return stored != nil && mine(stored), nil
}

// replaceableClaim matches the key's record only when it has expired: an
// upsert with it writes a claim where there is none or only an expired
// one, and meets the _id of a live one.
func replaceableClaim(id string, now time.Time) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: "expires_ns", Value: bson.D{{Key: "$lte", Value: now.UnixNano()}}}}
}

// takeOver deletes the expired record old if this caller wins the right to
// (a takeover marker); false when another caller holds that right.
func (k *IdempotencyKeys) takeOver(ctx context.Context, old *idemDoc) (bool, error) {
	db := k.db
	return db.deleteOnce(ctx, db.idemTakeovers, takeoverBase(old), old.ID, func(ctx context.Context) error {
		_, err := db.idem.DeleteOne(ctx, bson.D{{Key: "_id", Value: old.ID}, {Key: "owner", Value: old.Owner},
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

func (k *IdempotencyKeys) find(ctx context.Context, id string) (*idemDoc, error) {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	var doc idemDoc
	err := k.db.idem.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, errNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "read idempotency key")
	}
	return &doc, nil
}

// CompleteIdempotencyKey implements ports.IdempotencyStore: one update,
// read back when its answer was lost.
func (k *IdempotencyKeys) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int,
	header map[string]string, body []byte, expiresAt time.Time) error {
	set := bson.D{{Key: "done", Value: true}, {Key: "status", Value: status}, {Key: "body", Value: body},
		{Key: "expires_ns", Value: expiresAt.UnixNano()}, {Key: "expires_at", Value: expiresAt.Add(idemPurgeGrace)}}
	if header != nil {
		h, err := json.Marshal(header)
		if err != nil {
			return domain.WrapError(domain.CodeInternal, err, "response header cannot be stored")
		}
		set = append(set, bson.E{Key: "header", Value: string(h)})
	}
	uctx, cancel := k.db.op(ctx)
	res, err := k.db.idem.UpdateOne(uctx, k.claimFilter(tenantID, key, owner), bson.D{{Key: "$set", Value: set}})
	cancel()
	if err != nil && transient(err) {
		cur, readErr := k.find(ctx, idemID(tenantID, key))
		if readErr == nil && cur != nil && cur.Owner == owner && cur.Done && cur.ExpiresNS == expiresAt.UnixNano() {
			return nil
		}
	}
	if err != nil {
		return fail(err, "complete idempotency key")
	}
	if res.MatchedCount == 0 {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	return nil
}

// RenewIdempotencyClaim implements ports.IdempotencyStore: one update of
// the owner's claim, which only its owner writes. A renewal whose answer
// was lost is STORE_UNAVAILABLE: the caller renews again soon.
func (k *IdempotencyKeys) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	held := heldUntil.UnixNano()
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "held_ns", Value: held}}},
		{Key: "$max", Value: bson.D{{Key: "expires_ns", Value: held}, {Key: "expires_at", Value: heldUntil.Add(idemPurgeGrace)}}}}
	uctx, cancel := k.db.op(ctx)
	res, err := k.db.idem.UpdateOne(uctx, k.claimFilter(tenantID, key, owner), update)
	cancel()
	if err != nil {
		return fail(err, "renew idempotency claim")
	}
	if res.MatchedCount == 0 {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	return nil
}

// TakeOverIdempotencyKey implements ports.IdempotencyStore: one
// conditional update admitting only the named owner's lapsed claim, which
// returns the record it wrote; the record in force is read when it
// matched nothing. Where concurrent conditional updates are not safe
// (FerretDB), the takers first race for a takeover marker of the claim
// (takeover.go), and only the winner updates.
func (k *IdempotencyKeys) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (*ports.IdempotencyRecord, bool, error) {
	if rec.Owner == "" || from == "" || rec.Owner == from {
		return nil, false, domain.InvalidFields(domain.FieldError{Field: "idempotency_key", Message: "a new owner and the owner to take over from are required"})
	}
	db := k.db
	id := idemID(rec.TenantID, rec.Key)
	now := db.clock.Now().UnixNano()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: from}, {Key: "done", Value: false},
		{Key: "held_ns", Value: bson.D{{Key: "$lte", Value: now}}}, {Key: "expires_ns", Value: bson.D{{Key: "$gt", Value: now}}}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "owner", Value: rec.Owner}, {Key: "turn_id", Value: rec.TurnID},
		{Key: "held_ns", Value: rec.HeldUntil.UnixNano()}, {Key: "expires_ns", Value: rec.ExpiresAt.UnixNano()},
		{Key: "expires_at", Value: rec.ExpiresAt.Add(idemPurgeGrace)}}}}
	var took *idemDoc
	replace := func(ctx context.Context) error {
		var doc idemDoc
		err := db.idem.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
		if err == nil {
			took = &doc
		}
		if errors.Is(err, errNoDocuments) {
			return nil
		}
		return err
	}
	var err error
	if db.caps.atomicUpdates {
		uctx, cancel := db.op(ctx)
		err = fail(replace(uctx), "take over idempotency key")
		cancel()
	} else {
		err = k.takeOverOnce(ctx, id, from, replace)
	}
	if took != nil {
		r, err := took.record()
		return r, true, err
	}
	if err != nil && !domain.IsCode(err, domain.CodeStoreUnavailable) {
		return nil, false, err
	}
	// Not taken, or the answer was lost: the stored record says which.
	cur, readErr := k.find(ctx, id)
	switch {
	case readErr != nil && err != nil:
		return nil, false, err
	case readErr != nil:
		return nil, false, readErr
	case cur == nil || !cur.live(db.clock.Now()):
		return nil, false, nil
	}
	r, recErr := cur.record()
	return r, cur.Owner == rec.Owner && !cur.Done, recErr
}

// takeOverOnce runs replace if this caller wins the takeover marker of
// from's lapsed claim (servers without atomic updates). The marker names
// the claim's hold as read, so a claim renewed since, or taken over and
// lapsed again, has another marker.
func (k *IdempotencyKeys) takeOverOnce(ctx context.Context, id, from string, replace func(context.Context) error) error {
	db := k.db
	cur, err := k.find(workaround(ctx), id)
	now := db.clock.Now().UnixNano()
	if err != nil || cur == nil || cur.Owner != from || cur.Done || cur.HeldNS > now || cur.ExpiresNS <= now {
		return err
	}
	base := "takeover/" + id + "/" + from + "/" + strconv.FormatInt(cur.HeldNS, 10)
	_, err = db.deleteOnce(ctx, db.idemTakeovers, base, id, replace, "take over idempotency key")
	return err
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore: one delete.
func (k *IdempotencyKeys) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	_, err := k.db.idem.DeleteOne(ctx, k.claimFilter(tenantID, key, owner))
	return fail(err, "release idempotency key")
}

// GetIdempotencyKey implements ports.IdempotencyStore: one read, expiry
// checked here (TTL deletion is lazy, or missing).
func (k *IdempotencyKeys) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*ports.IdempotencyRecord, error) {
	doc, err := k.find(ctx, idemID(tenantID, key))
	if err != nil || doc == nil || !doc.live(k.db.clock.Now()) {
		return nil, err
	}
	return doc.record()
}
