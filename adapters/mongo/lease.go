package mongo

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Session leases.
//
// A held lease is one document in session_leases whose _id is the
// (tenant, session) pair: acquiring is inserting it, which exactly one of
// any number of concurrent callers achieves; releasing is deleting it
// filtered by its fence; an expired lease is taken over by deleting it
// filtered by the exact expired fence and inserting a new one. No
// conditional update is ever involved.
//
// Fences never repeat, for any session, across every instance and
// restart: a fence is epoch<<32 | seq, where epoch is reserved once per
// process by inserting the next number into lease_epochs (insert-once, so
// no two processes ever share an epoch; the collection is never purged)
// and seq is a counter in this process. That is what makes the
// fence-filtered deletes safe: a delete aimed at fence F can only ever
// remove the lease that was granted under F, so a late Release, or a
// takeover racing another, never removes somebody else's lease; and a
// stale holder's token can never match a later lease, so its commit is
// refused. (A fence only needs to be unique, not ordered: CommitTurn
// checks equality with the current lease.)
//
// Expiry is written by the holder's clock and judged by the waiter's: clock
// skew between instances moves the moment of a takeover, never whether
// fencing holds.
//
// Waiting polls with a jittered backoff from minPoll to maxPoll: who gets
// a released lease is whoever polls first, so waiting is not FIFO.
//
// Round trips: an uncontended LockSession inserts the lease while checking
// the session exists (two, one of latency); Release is one delete.

const (
	busyRetryAfter = time.Second
	minPoll        = 5 * time.Millisecond
	maxPoll        = 50 * time.Millisecond
	// leasePurgeGrace keeps an expired lease this long before a TTL index
	// may remove it; removal is harmless (fences never repeat), the grace
	// only keeps a slow but live holder's commit from being refused early.
	leasePurgeGrace = time.Minute
)

type leaseDoc struct {
	ID        string    `bson:"_id"`
	TenantID  string    `bson:"tenant_id"`
	SessionID string    `bson:"session_id"`
	Fence     int64     `bson:"fence"`
	ExpiresNS int64     `bson:"expires_ns"`
	PurgeAt   time.Time `bson:"purge_at"`
}

func leaseID(tenantID, sessionID string) string { return tenantID + "/" + sessionID }

// lease is a held lease.
type lease struct {
	store *Store
	id    string
	token ports.LeaseToken

	mu       sync.Mutex
	released bool
}

// LockSession implements ports.SessionLocker.
func (s *Store) LockSession(ctx context.Context, tenantID, sessionID string, wait, ttl time.Duration) (ports.SessionLease, error) {
	fence, err := s.nextFence(ctx)
	if err != nil {
		return nil, err
	}
	id := leaseID(tenantID, sessionID)
	deadline := s.clock.Now().Add(wait)
	var got bool
	errLease, errSess := concurrently(
		func() (err error) { got, err = s.insertLease(ctx, id, tenantID, sessionID, fence, ttl); return err },
		func() error { _, err := s.findSession(ctx, tenantID, sessionID); return err },
	)
	if errSess != nil {
		if got {
			_ = s.deleteLease(context.WithoutCancel(ctx), id, fence)
		}
		return nil, errSess
	}
	if errLease != nil {
		return nil, errLease
	}
	poll := minPoll
	for !got {
		cur, err := s.findLease(ctx, id)
		if err != nil {
			return nil, err
		}
		now := s.clock.Now()
		switch {
		case cur == nil:
			// Released between our insert and our read: try again.
		case now.UnixNano() > cur.ExpiresNS:
			// Its holder outlived the lease: take it over. Of several
			// takers exactly one delete matches, and one insert wins.
			if err := s.deleteLease(ctx, id, cur.Fence); err != nil {
				return nil, err
			}
		default:
			left := deadline.Sub(now)
			if left <= 0 {
				return nil, &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: busyRetryAfter,
					Message: "session " + sessionID + " is busy with another turn"}
			}
			pause := min(jitter(poll), left, time.Duration(cur.ExpiresNS-now.UnixNano())+time.Millisecond)
			if err := sleep(ctx, pause); err != nil {
				return nil, err
			}
			poll = min(2*poll, maxPoll)
			continue
		}
		if got, err = s.insertLease(ctx, id, tenantID, sessionID, fence, ttl); err != nil {
			return nil, err
		}
	}
	return &lease{store: s, id: id, token: ports.LeaseToken{SessionID: sessionID, Fence: fence}}, nil
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
func (s *Store) insertLease(ctx context.Context, id, tenantID, sessionID string, fence int64, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, stopped(ctx)
	}
	expires := s.clock.Now().Add(ttl)
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.leases.InsertOne(ctx, leaseDoc{
		ID: id, TenantID: tenantID, SessionID: sessionID, Fence: fence,
		ExpiresNS: expires.UnixNano(), PurgeAt: expires.Add(leasePurgeGrace),
	})
	if mdb.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err, "acquire session lease")
	}
	return true, nil
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
func (s *Store) deleteLease(ctx context.Context, id string, fence int64) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.leases.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "fence", Value: fence}})
	return s.fail(err, "release session lease")
}

// Token implements ports.SessionLease.
func (l *lease) Token() ports.LeaseToken { return l.token }

// Release implements ports.SessionLease: one delete filtered by the fence,
// so releasing after a takeover, or twice, removes nothing. A release that
// failed (store unreachable) may be retried; the lease expires regardless.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := l.store.deleteLease(ctx, l.id, l.token.Fence); err != nil {
		return err
	}
	l.released = true
	return nil
}

// fenceSeqLimit is where a process moves to a new epoch.
const fenceSeqLimit = 1<<32 - 1

// nextFence hands out a fence no other lease ever had or will have.
func (s *Store) nextFence(ctx context.Context) (int64, error) {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	if s.fenceSeq >= fenceSeqLimit {
		if err := s.reserveEpochLocked(ctx); err != nil {
			return 0, err
		}
	}
	s.fenceSeq++
	return s.fenceEpoch<<32 | s.fenceSeq, nil
}

func (s *Store) newFenceEpoch(ctx context.Context) error {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	return s.reserveEpochLocked(ctx)
}

type epochDoc struct {
	Epoch     int64     `bson:"_id"`
	Host      string    `bson:"host"`
	StartedAt time.Time `bson:"started_at"`
}

// reserveEpochLocked inserts the number after the highest epoch; a
// duplicate means another process took it first, so it reads again.
func (s *Store) reserveEpochLocked(ctx context.Context) error {
	host, _ := os.Hostname()
	for range 100 {
		fctx, cancel := s.op(ctx)
		var top epochDoc
		err := s.epochs.FindOne(fctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&top)
		cancel()
		if err != nil && !errors.Is(err, mdb.ErrNoDocuments) {
			return s.fail(err, "read lease epochs")
		}
		next := top.Epoch + 1
		if next >= 1<<31 {
			return errors.New("mongo store: lease fence epochs exhausted")
		}
		ictx, cancel := s.op(ctx)
		_, err = s.epochs.InsertOne(ictx, epochDoc{Epoch: next, Host: host, StartedAt: s.clock.Now()})
		cancel()
		if mdb.IsDuplicateKeyError(err) {
			continue
		}
		if err != nil {
			return s.fail(err, "reserve a lease epoch")
		}
		s.fenceEpoch, s.fenceSeq = next, 0
		return nil
	}
	return domain.Errorf(domain.CodeStoreUnavailable, "no lease epoch could be reserved")
}
