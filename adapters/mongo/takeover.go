package mongo

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
)

// Takeover markers: only on servers without atomic updates (FerretDB).
//
// Deleting a document that someone else may replace right after (an
// expired session lease, an expired idempotency record) is not safe
// there: FerretDB looks the document up, then deletes by _id, so of two
// callers deleting one expired document the slower can remove the
// replacement the faster one inserted a moment earlier (measured: ten
// claimers replacing one expired idempotency record mostly ended with
// several winners; eight waiters on one expired session lease, spread
// over three instances, had two of them holding it at once in every run).
// So the right to delete such a document is itself an insert-once key: a
// takeover marker keyed by the document's identity, which never repeats
// (a lease's fence; an idempotency record's key, owner and expiry), and a
// round. Exactly one caller inserts it and deletes; the others wait for
// the document to change, then insert like anyone else, and the insert
// decides. A marker whose holder did not finish within takeoverTTL (it
// crashed) is passed over by inserting the next round's. MongoDB replaces
// such documents in one conditional update instead, and needs no marker.

// takeoverTTL is how long a takeover marker's holder has to delete the
// expired document before the next round may; waiters poll meanwhile.
const takeoverTTL = 5 * time.Second

// markerPurgeGrace keeps markers a while before a TTL index may remove
// them (reads check until_ns themselves).
const markerPurgeGrace = time.Minute

type takeoverDoc struct {
	ID        string    `bson:"_id"`
	KeyID     string    `bson:"key_id"`
	UntilNS   int64     `bson:"until_ns"`
	ExpiresAt time.Time `bson:"expires_at"` // for a TTL index, where there is one
}

// deleteOnce runs del if this caller wins the right to delete the document
// that base identifies (keyID is the document's _id, for people); false
// when another caller holds that right. Every command it sends is a
// workaround. Round trips: the marker insert and del when it wins; the
// insert and a read of the marker when it does not.
func (db *DB) deleteOnce(ctx context.Context, markers *mdb.Collection, base, keyID string,
	del func(context.Context) error, what string) (bool, error) {
	ctx = workaround(ctx)
	for tries, round := 0, 0; tries < 100; tries++ {
		now := db.clock.Now()
		marker := &takeoverDoc{ID: base + "/" + strconv.Itoa(round), KeyID: keyID,
			UntilNS: now.Add(takeoverTTL).UnixNano(), ExpiresAt: now.Add(takeoverTTL + markerPurgeGrace)}
		won, err := db.insertOnce(ctx, markers, marker, what, readBack{mine: fieldIs("until_ns", marker.UntilNS)})
		if err != nil {
			return false, err
		}
		if won {
			dctx, cancel := db.op(ctx)
			err := del(dctx)
			cancel()
			return err == nil, fail(err, what)
		}
		var held takeoverDoc
		fctx, cancel := db.op(ctx)
		err = markers.FindOne(fctx, bson.D{{Key: "_id", Value: marker.ID}}).Decode(&held)
		cancel()
		switch {
		case errors.Is(err, errNoDocuments):
			// Purged meanwhile: try this round again.
		case err != nil:
			return false, fail(err, what)
		case now.UnixNano() < held.UntilNS:
			return false, nil // its holder is at work
		default:
			round++ // its holder did not finish in time
		}
	}
	return false, domain.Errorf(domain.CodeInternal, "%s %s: too many abandoned takeovers", what, keyID)
}
