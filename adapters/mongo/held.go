package mongo

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/adapters/leasekit"
)

// lease is a held lease.
type lease struct {
	leasekit.Grant
	db  *DB
	id  string
	ttl time.Duration

	mu       sync.Mutex
	released bool
}

// Release implements ports.SessionLease. A lease whose turn this process
// committed is spent: releasing it sends nothing. Otherwise one delete
// filtered by the fence, so releasing after a takeover, or twice, removes
// nothing (near its expiry, on servers without atomic updates, the delete
// needs the takeover marker). A release that failed may be retried; the
// lease expires regardless.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if g, ok := l.db.memo.grantOf(l.id, l.Token().Fence); ok && g.committed {
		l.db.memo.dropGrant(l.id, l.Token().Fence)
		l.released = true
		return nil
	}
	if err := l.db.giveBack(ctx, l.id, l.Token().Fence); err != nil {
		return err
	}
	l.released = true
	return nil
}

// Renew implements ports.SessionLease: one update of the lease document
// filtered by its fence, so a lease taken over is never renewed. Where the
// server has a clock for it ($$NOW) it stamps the new expiry; elsewhere
// this instance does, and renews only a lease its own clock does not yet
// see expired (a waiter may be taking it over: FerretDB's delete is not
// atomic, so a renewal racing it could land on nothing). A renewal that
// landed moves the moment until which this process holds the lease alone.
func (l *lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if released {
		return busyError(l.Token().SessionID)
	}
	db := l.db
	sent := db.clock.Now()
	filter := bson.D{{Key: "_id", Value: l.id}, {Key: "fence", Value: l.Token().Fence}, {Key: "sealed", Value: bson.D{{Key: "$ne", Value: true}}}}
	var update any
	if db.caps.serverTime {
		update = mdb.Pipeline{{{Key: "$set", Value: bson.D{
			{Key: "expires_at", Value: bson.D{{Key: "$add", Value: bson.A{"$$NOW", l.ttl.Milliseconds()}}}},
			{Key: "purge_at", Value: bson.D{{Key: "$add", Value: bson.A{"$$NOW", (l.ttl + leasePurgeGrace).Milliseconds()}}}},
		}}}}
	} else {
		filter = append(filter, bson.E{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: sent}}})
		update = bson.D{{Key: "$set", Value: bson.D{{Key: "expires_at", Value: sent.Add(l.ttl)},
			{Key: "purge_at", Value: sent.Add(l.ttl + leasePurgeGrace)}}}}
	}
	uctx, cancel := db.op(ctx)
	res, err := db.leases.UpdateOne(uctx, filter, update)
	cancel()
	if err != nil {
		return fail(err, "renew session lease")
	}
	if res.MatchedCount == 0 {
		return busyError(l.Token().SessionID)
	}
	db.memo.renewGrant(l.id, l.Token().Fence, sent.Add(l.ttl-db.cfg.LeaseClockSkew))
	return nil
}
