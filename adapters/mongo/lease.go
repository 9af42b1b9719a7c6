package mongo

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
	"focal/ports"
)

// Session leases.
//
// A held lease is one document in session_leases whose _id is the
// (tenant, session) pair: acquiring is inserting it, which exactly one of
// any number of concurrent callers achieves; releasing is deleting it
// filtered by its fence. An expired lease is taken over by deleting it,
// filtered by the exact expired fence, and inserting a new one; the right
// to that delete is a takeover marker (takeover.go), because on FerretDB a
// filtered delete is find-then-delete, and two waiters deleting one
// expired lease could otherwise remove the lease one of them had just
// inserted: both would hold it. No conditional update is ever involved.
//
// Fences never repeat, for any session, across every instance and
// restart: a fence is epoch<<32 | seq, where epoch is reserved once per
// process by inserting the next number into lease_epochs (insert-once, so
// no two processes ever share an epoch; the collection is never purged)
// and seq is a counter in this process. So a delete aimed at fence F can
// only ever remove the lease granted under F, and a stale holder's token
// never matches a later lease: its commit is refused. (A fence only needs
// to be unique, not ordered: CommitTurn checks equality.)
//
// Expiry is written by the holder's clock and judged by the waiter's.
// Config.LeaseClockSkew bounds the difference: until its expiry minus the
// skew, by its own clock, a holder knows nobody else can hold its lease
// (memo.go). Within that time a commit skips reading the lease back and a
// release is a plain delete (the holder is the only one who may delete
// the lease then); after it, the release goes through the takeover marker
// like any taker's delete.
//
// DeleteSession seals the lease: it acquires it like anyone (waiting for
// the turn in flight, or the expiry of a dead holder's lease) and never
// releases it. The sealed lease (sealed: true, no expiry) tells every
// later LockSession that the session is gone, and since no turn can hold
// the lease of a session being deleted, a commit that skipped its lease
// read can never land in a deleted session.
//
// Waiting polls with a jittered backoff from minPoll to maxPoll: who gets
// a released lease is whoever polls first, so waiting is not FIFO.
//
// Round trips: an uncontended LockSession is one insert when this process
// saw the session lately (it read or created it within seenTTL, as the
// application always just did), else the insert and a session read, run
// concurrently. Release is one delete (two, with the marker, within the
// skew of its expiry).

const (
	busyRetryAfter = time.Second
	minPoll        = 5 * time.Millisecond
	maxPoll        = 50 * time.Millisecond
	// leasePurgeGrace keeps an expired lease this long before a TTL index
	// may remove it; removal is harmless (fences never repeat), the grace
	// only keeps a slow but live holder's commit from being refused early.
	leasePurgeGrace = time.Minute
	// noExpiry is a sealed lease's expiry: never.
	noExpiry = math.MaxInt64
)

type leaseDoc struct {
	ID        string    `bson:"_id"`
	TenantID  string    `bson:"tenant_id"`
	SessionID string    `bson:"session_id"`
	Fence     int64     `bson:"fence"`
	ExpiresNS int64     `bson:"expires_ns"`
	PurgeAt   time.Time `bson:"purge_at"`
	// Sealed marks the lease DeleteSession leaves: the session is gone.
	Sealed bool `bson:"sealed,omitempty"`
}

func leaseID(tenantID, sessionID string) string { return tenantID + "/" + sessionID }

// lease is a held lease.
type lease struct {
	store     *Store
	id        string
	token     ports.LeaseToken
	expiresNS int64

	mu       sync.Mutex
	released bool
}

// errSealed is what acquire reports for a sealed lease.
var errSealed = errors.New("the session's lease is sealed")

// LockSession implements ports.SessionLocker.
func (s *Store) LockSession(ctx context.Context, tenantID, sessionID string, wait, ttl time.Duration) (ports.SessionLease, error) {
	fence, err := s.nextFence(ctx)
	if err != nil {
		return nil, err
	}
	id := leaseID(tenantID, sessionID)
	deadline := s.clock.Now().Add(wait)
	next := func() leaseDoc {
		expires := s.clock.Now().Add(ttl)
		return leaseDoc{ID: id, TenantID: tenantID, SessionID: sessionID, Fence: fence,
			ExpiresNS: expires.UnixNano(), PurgeAt: expires.Add(leasePurgeGrace)}
	}
	doc := next()
	got, err := s.firstLeaseInsert(ctx, &doc)
	if err != nil {
		return nil, err
	}
	if !got {
		doc, err = s.acquire(ctx, next, deadline)
		if errors.Is(err, errSealed) {
			s.forgetSession(id)
			return nil, sessionNotFound(sessionID)
		}
		if err != nil {
			return nil, err
		}
	}
	s.noteGrant(id, fence, doc.ExpiresNS)
	return &lease{store: s, id: id, token: ports.LeaseToken{SessionID: sessionID, Fence: fence}, expiresNS: doc.ExpiresNS}, nil
}

// firstLeaseInsert tries to take the free lease. A session this process
// has not seen lately is read meanwhile: SESSION_NOT_FOUND (taking back
// the lease it may have inserted) when it does not exist.
func (s *Store) firstLeaseInsert(ctx context.Context, doc *leaseDoc) (bool, error) {
	if s.seenLately(doc.ID) {
		return s.insertLease(ctx, doc)
	}
	at := s.clock.Now().UnixNano()
	var got bool
	errLease, errSess := concurrently(
		func() (err error) { got, err = s.insertLease(ctx, doc); return err },
		func() error { _, err := s.findSession(ctx, doc.TenantID, doc.SessionID); return err },
	)
	if errSess != nil {
		if got {
			_ = s.giveBack(context.WithoutCancel(ctx), doc.ID, doc.Fence, doc.ExpiresNS)
		}
		return false, errSess
	}
	if errLease != nil {
		return false, errLease
	}
	s.noteSession(doc.ID, at, -1)
	return got, nil
}

// acquire waits until the lease is free, or expired and taken over, and
// inserts next(); SESSION_BUSY once deadline passes, errSealed when the
// lease is sealed.
func (s *Store) acquire(ctx context.Context, next func() leaseDoc, deadline time.Time) (leaseDoc, error) {
	id := next().ID
	poll := minPoll
	for {
		cur, err := s.findLease(ctx, id)
		if err != nil {
			return leaseDoc{}, err
		}
		now := s.clock.Now()
		var pause time.Duration
		switch {
		case cur == nil:
			// Released between our insert and our read: try again.
		case cur.Sealed:
			return leaseDoc{}, errSealed
		case now.UnixNano() > cur.ExpiresNS:
			// Its holder outlived the lease: take it over. Of several
			// takers exactly one deletes it; then the inserts decide.
			won, err := s.takeOverLease(ctx, id, cur.Fence)
			if err != nil {
				return leaseDoc{}, err
			}
			if !won {
				pause = jitter(poll) // another waiter is removing it
			}
		default:
			pause = min(jitter(poll), time.Duration(cur.ExpiresNS-now.UnixNano())+time.Millisecond)
		}
		if pause > 0 {
			left := deadline.Sub(now)
			if left <= 0 {
				return leaseDoc{}, &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: busyRetryAfter,
					Message: "session " + cur.SessionID + " is busy with another turn"}
			}
			if err := sleep(ctx, min(pause, left)); err != nil {
				return leaseDoc{}, err
			}
			poll = min(2*poll, maxPoll)
			continue
		}
		doc := next()
		got, err := s.insertLease(ctx, &doc)
		if err != nil || got {
			return doc, err
		}
	}
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

// insertLease tries to take the free lease; false when it is held.
func (s *Store) insertLease(ctx context.Context, doc *leaseDoc) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, stopped(ctx)
	}
	return s.insertOnce(ctx, s.leases, doc, "acquire session lease")
}

// findLease returns the session's current lease, nil when it is free.
func (s *Store) findLease(ctx context.Context, id string) (*leaseDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc leaseDoc
	err := s.leases.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "read session lease")
	}
	return &doc, nil
}

// deleteLease removes the lease granted under fence, if it still stands.
// Only a holder that is sure nobody else may delete it (holdsAlone) or the
// winner of its takeover marker calls it.
func (s *Store) deleteLease(ctx context.Context, id string, fence int64) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.leases.DeleteOne(ctx, leaseFilter(id, fence))
	return s.fail(err, "release session lease")
}

func leaseFilter(id string, fence int64) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: "fence", Value: fence}}
}

// takeOverLease deletes the lease granted under fence if this caller wins
// the right to; false when another caller holds that right.
func (s *Store) takeOverLease(ctx context.Context, id string, fence int64) (bool, error) {
	return s.deleteOnce(ctx, s.leaseTakeovers, id+"/"+strconv.FormatInt(fence, 10), id, func(ctx context.Context) error {
		_, err := s.leases.DeleteOne(ctx, leaseFilter(id, fence))
		return err
	}, "take over an expired session lease")
}

// sealLease acquires the session's lease for good, for DeleteSession:
// it waits for the turn in flight (or a dead holder's expiry), so no
// commit can land while the session is deleted, and it is never released.
// A lease sealed already (a delete that did not finish) is kept.
func (s *Store) sealLease(ctx context.Context, tenantID, sessionID string) error {
	fence, err := s.nextFence(ctx)
	if err != nil {
		return err
	}
	id := leaseID(tenantID, sessionID)
	seal := func() leaseDoc {
		return leaseDoc{ID: id, TenantID: tenantID, SessionID: sessionID, Fence: fence,
			ExpiresNS: noExpiry, PurgeAt: s.clock.Now().Add(tombstoneKeep), Sealed: true}
	}
	doc := seal()
	got, err := s.insertLease(ctx, &doc)
	if err != nil || got {
		return err
	}
	// No deadline of its own: a holder's lease ends by its expiry.
	_, err = s.acquire(ctx, seal, time.Unix(0, noExpiry))
	if errors.Is(err, errSealed) {
		return nil
	}
	return err
}

// Token implements ports.SessionLease.
func (l *lease) Token() ports.LeaseToken { return l.token }

// Release implements ports.SessionLease: one delete filtered by the fence,
// so releasing after a takeover, or twice, removes nothing. Near its
// expiry, when a waiter may be taking the lease over, the delete needs the
// takeover marker like the waiter's (two round trips). A release that
// failed (store unreachable) may be retried; the lease expires regardless.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := l.store.giveBack(ctx, l.id, l.token.Fence, l.expiresNS); err != nil {
		return err
	}
	l.store.dropGrant(l.id, l.token.Fence)
	l.released = true
	return nil
}

// giveBack deletes the lease this process was granted under fence: a plain
// delete while nobody else may delete it, else with the takeover marker.
func (s *Store) giveBack(ctx context.Context, id string, fence, expiresNS int64) error {
	if s.alone(expiresNS) {
		return s.deleteLease(ctx, id, fence)
	}
	_, err := s.takeOverLease(ctx, id, fence)
	return err
}
