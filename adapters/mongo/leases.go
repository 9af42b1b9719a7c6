package mongo

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Session leases, one document per (session, turn number).
//
// The lease of a session's next turn n is the document
// tenant/session/n: acquiring it is writing it when it does not exist
// (or has expired), which exactly one of any number of concurrent callers
// achieves, and the lease lets its holder commit turn n and nothing else.
// Committing therefore frees it: the next caller asks for n+1. No release
// follows a commit, and a turn costs no write for its lease beyond the
// one that takes it.
//
// Expiry. On MongoDB the lease is written and taken over by one
// aggregation-pipeline upsert whose filter admits only an expired
// document ($expr with $$NOW) and which sets the expiry from $$NOW: the
// server's clock writes and judges every expiry, so instances' clocks do
// not matter, and a takeover is one atomic write. Its holder knows it
// alone holds the lease until the moment it sent that write plus the TTL
// (the server's $$NOW was later), less Config.LeaseClockSkew for the
// clocks of replica set members and drift. Where the server has no $$NOW
// (FerretDB), the holder's clock writes the expiry and a waiter's judges
// it, each instance checking its clock against the server's (skew.go);
// an expired lease is then deleted by the one waiter who wins its
// takeover marker (takeover.go) and written anew.
//
// Fences never repeat (fences.go), so a stale holder's token never
// matches a later lease of its number: its commit is refused.
//
// A lease document outlives its turn: it is what tells a caller that
// number n was taken, until its purge time (a TTL index on MongoDB; on
// servers without TTL indexes, until the session is deleted). That is why
// a lease written right after a read of the session proves the read
// current (lock.go).
//
// Waiting polls with a jittered backoff from minPoll to maxPoll: who gets
// a freed lease is whoever polls first, so waiting is not FIFO.

const (
	busyRetryAfter = time.Second
	minPoll        = 5 * time.Millisecond
	maxPoll        = 50 * time.Millisecond
	// leasePurgeGrace keeps a lease this long after its expiry, so the
	// document still stands when a slow reader of the session writes the
	// lease of a number that was taken meanwhile.
	leasePurgeGrace = 5 * time.Minute
	// tombstoneKeep is how long a deleted session's sealed lease stays
	// where the server has TTL indexes (for good where it has none).
	tombstoneKeep = 24 * time.Hour
)

// sealedUntil is a sealed lease's expiry: never.
var sealedUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type leaseDoc struct {
	ID        string    `bson:"_id"`
	TenantID  string    `bson:"tenant_id"`
	SessionID string    `bson:"session_id"`
	Turn      int64     `bson:"turn"`
	Fence     int64     `bson:"fence"`
	ExpiresAt time.Time `bson:"expires_at"`
	PurgeAt   time.Time `bson:"purge_at"`
	// Sealed marks the lease DeleteSession leaves: the session is gone.
	Sealed bool `bson:"sealed,omitempty"`
}

func leaseID(tenantID, sessionID string, turn int) string {
	return sessionKey(tenantID, sessionID) + "/" + strconv.Itoa(turn)
}

// leaseWrite is one attempt to take the lease of a session's turn.
type leaseWrite struct {
	tenantID, sessionID string
	turn                int
	ttl                 time.Duration
	seal                bool
}

func (w leaseWrite) id() string { return leaseID(w.tenantID, w.sessionID, w.turn) }

// tryLease writes the lease if it is free or expired: the grant, or nil
// when another holder has it.
func (db *DB) tryLease(ctx context.Context, w leaseWrite) (*grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, stopped(ctx)
	}
	fence, err := db.fences.next(ctx, db)
	if err != nil {
		return nil, err
	}
	// The write runs to its end even when ctx ends meanwhile. Abandoned,
	// it could still land on the server after its caller gave up, after
	// the holder let the lease go, and hold it for no one until it
	// expires; run to its end, a lease won too late is given back here.
	caller := ctx
	ctx = context.WithoutCancel(ctx)
	sent := db.clock.Now()
	var got bool
	if db.caps.serverTime {
		got, err = db.upsertLease(ctx, w, fence)
	} else {
		expires, purge := sent.Add(w.ttl), sent.Add(w.ttl+leasePurgeGrace)
		if w.seal {
			expires, purge = sealedUntil, sent.Add(tombstoneKeep)
		}
		doc := leaseDoc{ID: w.id(), TenantID: w.tenantID, SessionID: w.sessionID, Turn: int64(w.turn), Fence: fence,
			ExpiresAt: expires, PurgeAt: purge, Sealed: w.seal}
		got, err = db.insertOnce(ctx, db.leases, doc, "acquire session lease", readBack{mine: fieldIs("fence", fence)})
	}
	if err != nil || !got {
		return nil, err
	}
	g := grant{fence: fence, aloneUntil: sent.Add(w.ttl - db.cfg.LeaseClockSkew)}
	db.memo.noteGrant(w.id(), g, sent)
	if caller.Err() != nil {
		_ = db.giveBack(ctx, w.id(), fence)
		return nil, stopped(caller)
	}
	return &g, nil
}

// upsertLease is the MongoDB lease write: an insert, or the takeover of an
// expired lease, in one atomic update judged and stamped by the server's
// clock. A live lease makes the upsert meet its _id: a duplicate key.
func (db *DB) upsertLease(ctx context.Context, w leaseWrite, fence int64) (bool, error) {
	filter, update := leaseUpsert(w, fence)
	uctx, cancel := db.op(ctx)
	_, err := db.leases.UpdateOne(uctx, filter, update, options.UpdateOne().SetUpsert(true))
	cancel()
	switch {
	case err == nil:
		return true, nil
	case duplicate(err) && !transient(err):
		return false, nil
	case !transient(err):
		return false, fail(err, "acquire session lease")
	}
	// Lost answer: ours if the stored lease carries our fence.
	stored, readErr := db.findRaw(ctx, db.leases, w.id())
	if readErr != nil || stored == nil {
		return false, fail(err, "acquire session lease")
	}
	return fieldIs("fence", fence)(stored), nil
}

// leaseUpsert is the filter and pipeline of upsertLease.
func leaseUpsert(w leaseWrite, fence int64) (bson.D, mdb.Pipeline) {
	filter := bson.D{
		{Key: "_id", Value: w.id()},
		{Key: "sealed", Value: bson.D{{Key: "$ne", Value: true}}},
		{Key: "$expr", Value: bson.D{{Key: "$lt", Value: bson.A{"$expires_at", "$$NOW"}}}},
	}
	var expires, purge any = bson.D{{Key: "$add", Value: bson.A{"$$NOW", w.ttl.Milliseconds()}}},
		bson.D{{Key: "$add", Value: bson.A{"$$NOW", (w.ttl + leasePurgeGrace).Milliseconds()}}}
	if w.seal {
		expires, purge = sealedUntil, bson.D{{Key: "$add", Value: bson.A{"$$NOW", tombstoneKeep.Milliseconds()}}}
	}
	set := bson.D{
		{Key: "tenant_id", Value: w.tenantID}, {Key: "session_id", Value: w.sessionID}, {Key: "turn", Value: int64(w.turn)},
		{Key: "fence", Value: fence}, {Key: "sealed", Value: w.seal},
		{Key: "expires_at", Value: expires}, {Key: "purge_at", Value: purge},
	}
	return filter, mdb.Pipeline{{{Key: "$set", Value: set}}}
}

// findLease returns the lease document of id, nil when there is none.
func (db *DB) findLease(ctx context.Context, id string) (*leaseDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var doc leaseDoc
	err := db.leases.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, errNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "read session lease")
	}
	return &doc, nil
}

// newestTurnNumber is the session's committed turn count.
func (db *DB) newestTurnNumber(ctx context.Context, tenantID, sessionID string) (int64, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var head turnHead
	err := db.turns.FindOne(ctx, turnsOf(tenantID, sessionID), options.FindOne().SetSort(newestTurnFirst).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "turn_number", Value: 1}})).Decode(&head)
	if errors.Is(err, errNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fail(err, "read turn count")
	}
	return head.TurnNumber, nil
}

// holdsAlone reports whether a write sent now, bounded by its own
// deadline, ends before anyone else can take over the grant's lease.
func (db *DB) holdsAlone(g grant) bool {
	return db.clock.Now().Add(db.cfg.OperationTimeout).Before(g.aloneUntil)
}

// leaseHeld reports whether lease is still the session's lease for
// turn's number: without a read while this process holds it alone.
func (db *DB) leaseHeld(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) (bool, error) {
	if lease.SessionID != turn.SessionID || lease.TurnNumber != turn.TurnNumber {
		return false, nil
	}
	id := leaseID(turn.TenantID, turn.SessionID, turn.TurnNumber)
	if g, ok := db.memo.grantOf(id, lease.Fence); ok && db.holdsAlone(g) {
		return true, nil
	}
	cur, err := db.findLease(ctx, id)
	if err != nil {
		return false, err
	}
	return cur != nil && !cur.Sealed && cur.Fence == lease.Fence, nil
}

// giveBack deletes a lease this process was granted and did not use. On
// MongoDB the delete filtered by the fence is atomic; elsewhere it is
// safe only while nobody else may take the lease over, and after that
// needs the takeover marker like a waiter's delete.
func (db *DB) giveBack(ctx context.Context, id string, fence int64) error {
	defer db.memo.dropGrant(id, fence)
	g, ok := db.memo.grantOf(id, fence)
	if db.caps.atomicUpdates || (ok && db.holdsAlone(g)) {
		dctx, cancel := db.op(ctx)
		defer cancel()
		_, err := db.leases.DeleteOne(dctx, bson.D{{Key: "_id", Value: id}, {Key: "fence", Value: fence}})
		return fail(err, "release session lease")
	}
	_, err := db.takeOverLease(ctx, id, fence)
	return err
}

// takeOverLease deletes the lease granted under fence if this caller wins
// the right to (servers without atomic updates).
func (db *DB) takeOverLease(ctx context.Context, id string, fence int64) (bool, error) {
	return db.deleteOnce(ctx, db.leaseTakeovers, id+"/"+strconv.FormatInt(fence, 10), id, func(ctx context.Context) error {
		_, err := db.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "fence", Value: fence}})
		return err
	}, "take over an expired session lease")
}

// jitter spreads pollers over ±25% of d so they do not move in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return stopped(ctx)
	}
}

func busyError(sessionID string) error {
	return &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: busyRetryAfter,
		Message: "session " + sessionID + " is busy with another turn"}
}
