package memory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"focal/domain"
	"focal/ports"
)

// busyRetryAfter is what a SESSION_BUSY answer suggests waiting: turns
// usually take a model call, about a second.
const busyRetryAfter = time.Second

// sessionLease is one session's lease and its queue of waiters. A released
// lease passes straight to the longest waiter, which makes waiting FIFO.
type sessionLease struct {
	holder  int64 // fence of the current holder; 0 when free
	expires time.Time
	waiters []*leaseWaiter
	// entry is the session's entry as a holder found it, for its commit
	// (see Store.committedTo); nil until then.
	entry *sessionEntry
	// spent is the fence of the last holder whose commit let the lease
	// go (see Store.commit): that holder's Release and Renew answer
	// without the store's lock. Fences never repeat, so a later holder's
	// commit only sends an earlier one's Release the slow way.
	spent atomic.Int64
}

type leaseWaiter struct {
	ttl     time.Duration
	granted chan int64 // receives the fence when the lease is handed over
}

// lease is a held lease and what its holder got with it.
type lease struct {
	store     *Store
	sessionID string
	fence     int64
	ttl       time.Duration
	once      sync.Once
	// created sits in once's padding: a lease is made every turn.
	created bool

	turnNumber int
	session    *domain.Session // frozen: Session hands out clones
	// historyOf are the kept turns History reads, as of the grant (see
	// sessionEntry.newestTurns), in newest when they fit: a lease is made
	// every turn, and the copy with it.
	historyOf []*storedTurn
	newest    [domain.DefaultHistoryTurns]*storedTurn
	// record is the session's lease record (Store.leases) when this lease
	// found none (see Store.lock); unused otherwise.
	record sessionLease
	// rec is the session's lease record this lease was granted on, whose
	// spent says when the lease's commit let it go; nil for a lease
	// granted only to be handed on (see abandon).
	rec *sessionLease
}

// LockSession implements ports.SessionLocker. A session named by channel
// key is found or created and queued for in one step under the store's
// lock, so retention cannot drop it in between; the session and the kept
// turns of its history are found once the lease is held. A free lease (a
// returning user's turn, as a rule) is taken and read in that same hold
// of the lock, on one reading of the clock; only a turn that waited takes
// the lock again.
func (s *Store) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	if !req.NamesSession() {
		return nil, domain.InvalidFields(domain.FieldError{Field: "session", Message: "a tenant, and a session id or a candidate of the tenant, are required"})
	}
	s.mu.Lock()
	var found *sessionEntry
	sessionID, created := req.SessionID, false
	if sessionID == "" {
		var err error
		if found, created, err = s.findOrCreateActive(&req); err != nil {
			s.mu.Unlock()
			return nil, err
		}
		sessionID = found.id()
	}
	l, e, err := s.lock(ctx, req.TenantID, sessionID, found, req.Wait, req.TTL)
	if err != nil {
		return nil, err
	}
	if e == nil { // waited: the lock was let go meanwhile
		s.mu.Lock()
		if e, err = s.session(req.TenantID, sessionID); err == nil {
			e.touched = s.now()
		}
	}
	defer s.mu.Unlock()
	if err != nil {
		// Deleted while this caller waited: pass the lease on.
		l.once.Do(func() { s.release(l) })
		return nil, err
	}
	snap, err := s.current(e)
	if err != nil {
		l.once.Do(func() { s.release(l) })
		return nil, err
	}
	l.session, l.turnNumber, l.created = snap, snap.TurnCount+1, created
	l.historyOf = e.newestTurns(req.History, l.newest[:0])
	return l, nil
}

// lock waits for the lease of an existing session: found when the caller
// found it (of tenantID, in s.sessions), else looked up. The caller holds
// s.mu. A free lease is granted at once, and lock returns with s.mu still
// held and the session's entry; else it lets s.mu go, waits, and returns
// no entry.
func (s *Store) lock(ctx context.Context, tenantID, sessionID string, found *sessionEntry, wait, ttl time.Duration) (*lease, *sessionEntry, error) {
	e := found
	if e == nil {
		var err error
		if e, err = s.session(tenantID, sessionID); err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
	}
	now := s.clock.Now()
	e.touched = now.UnixNano()
	l := s.leases[sessionID]
	if l == nil {
		// No record: the lease is free, and its record is made in the
		// lease handed out, one allocation for both. The record outlives
		// that lease only while a waiter holds it after.
		held := &lease{store: s, sessionID: sessionID, ttl: ttl}
		held.rec = &held.record
		s.leases[sessionID] = held.rec
		held.fence = s.grant(&held.record, now, ttl)
		held.record.entry = e
		return held, e, nil
	}
	if l.holder == 0 {
		fence := s.grant(l, now, ttl)
		l.entry = e
		return &lease{store: s, sessionID: sessionID, fence: fence, ttl: ttl, rec: l}, e, nil
	}
	w := &leaseWaiter{ttl: ttl, granted: make(chan int64, 1)}
	l.waiters = append(l.waiters, w)
	untilExpiry := l.expires.Sub(now)
	s.mu.Unlock()
	held, err := s.await(ctx, l, w, sessionID, wait, untilExpiry)
	return held, nil, err
}

// await waits for w's turn at the lease, at most wait; its holder's lease
// expires in untilExpiry. Both waits are on the store's clock, as the
// expiry itself is.
func (s *Store) await(ctx context.Context, l *sessionLease, w *leaseWaiter, sessionID string, wait, untilExpiry time.Duration) (*lease, error) {
	ttl := w.ttl
	deadline, deadlineC := s.timer(wait)
	defer deadline.Stop()
	expiry, expiryC := s.timer(max(untilExpiry, 0) + time.Millisecond)
	defer expiry.Stop()
	for {
		select {
		case fence := <-w.granted:
			return &lease{store: s, sessionID: sessionID, fence: fence, ttl: ttl, rec: l}, nil
		case <-expiryC:
			if fence, ok := s.takeOver(l, w); ok {
				return &lease{store: s, sessionID: sessionID, fence: fence, ttl: ttl, rec: l}, nil
			}
			s.mu.Lock()
			expiry.Reset(max(l.expires.Sub(s.clock.Now()), 0) + time.Millisecond)
			s.mu.Unlock()
		case <-deadlineC:
			s.abandon(ctx, l, w, sessionID)
			return nil, &domain.Error{
				Code:       domain.CodeSessionBusy,
				Message:    "session " + sessionID + " is busy with another turn",
				RetryAfter: busyRetryAfter,
			}
		case <-ctx.Done():
			s.abandon(ctx, l, w, sessionID)
			return nil, context.Cause(ctx)
		}
	}
}

// timer is time.NewTimer on the store's clock: its channel receives once
// d has passed by that clock (again after each Reset, once received from).
func (s *Store) timer(d time.Duration) (ports.Timer, <-chan struct{}) {
	fired := make(chan struct{}, 1)
	return s.clock.AfterFunc(d, func() {
		select {
		case fired <- struct{}{}:
		default:
		}
	}), fired
}

// takeOver gives an expired lease to w when w is first in line: its holder
// outlived the lease (a stuck turn), and that holder's commit will now be
// refused.
func (s *Store) takeOver(l *sessionLease, w *leaseWaiter) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if l.holder == 0 || !now.After(l.expires) || len(l.waiters) == 0 || l.waiters[0] != w {
		return 0, false
	}
	l.waiters = l.waiters[1:]
	return s.grant(l, now, w.ttl), true
}

// grant gives the lease to a new holder under a fresh fence. Fences come
// from one store-wide counter, so a fence is never reused even after the
// lease record is dropped. The caller holds s.mu.
func (s *Store) grant(l *sessionLease, now time.Time, ttl time.Duration) int64 {
	s.fences++
	l.holder = s.fences
	l.expires = now.Add(ttl)
	return l.holder
}

// abandon takes w out of the queue. When the lease was handed to w at that
// very moment, w passes it on, so a handover is never lost.
func (s *Store) abandon(ctx context.Context, l *sessionLease, w *leaseWaiter, sessionID string) {
	s.mu.Lock()
	for i, x := range l.waiters {
		if x == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	fence := <-w.granted
	_ = (&lease{store: s, sessionID: sessionID, fence: fence}).Release(context.WithoutCancel(ctx))
}

// Token implements ports.SessionLease.
func (l *lease) Token() ports.LeaseToken {
	return ports.LeaseToken{SessionID: l.sessionID, TurnNumber: l.turnNumber, Fence: l.fence}
}

// Session implements ports.SessionLease.
func (l *lease) Session() *domain.Session { return l.session.Clone() }

// History implements ports.SessionLease. The entries are made here, not
// under the store's lock, and once a call: a holder reads them once, and
// made at the grant they would be copied again to give the caller its own.
func (l *lease) History() []domain.HistoryEntry {
	out := make([]domain.HistoryEntry, len(l.historyOf))
	for i, t := range l.historyOf {
		out[i] = t.history()
	}
	return out
}

// Created implements ports.SessionLease.
func (l *lease) Created() bool { return l.created }

// Release implements ports.SessionLease: the lease goes to the longest
// waiter, or becomes free. A lease its commit let go (spent) has nothing
// to give up: the lock is not taken for it.
func (l *lease) Release(context.Context) error {
	if l.spent() {
		return nil
	}
	l.once.Do(func() {
		l.store.mu.Lock()
		defer l.store.mu.Unlock()
		l.store.release(l)
	})
	return nil
}

// Renew implements ports.SessionLease: the lease lasts its TTL from now,
// unless it is no longer this holder's.
func (l *lease) Renew(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if l.spent() {
		return busy("session %s: the lease was used by its commit", l.sessionID)
	}
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.leases[l.sessionID]
	if sl == nil || sl.holder != l.fence {
		return busy("session %s: the lease was released or taken over", l.sessionID)
	}
	sl.expires = s.clock.Now().Add(l.ttl)
	return nil
}

// spent reports whether the lease's commit let it go (see Store.commit).
func (l *lease) spent() bool { return l.rec != nil && l.rec.spent.Load() == l.fence }

// release hands l's lease on, unless it was taken over after expiry or the
// session was deleted; the caller holds s.mu. Lease.Release calls it once.
func (s *Store) release(l *lease) {
	sl := s.leases[l.sessionID]
	if sl == nil || sl.holder != l.fence {
		return
	}
	s.handOn(sl, l.sessionID)
}

// handOn gives sl, the lease record of sessionID, to its longest waiter,
// or drops it when none waits; the caller holds s.mu and has checked that
// the lease is the giver's.
func (s *Store) handOn(sl *sessionLease, sessionID string) {
	if len(sl.waiters) == 0 {
		delete(s.leases, sessionID)
		return
	}
	w := sl.waiters[0]
	sl.waiters = sl.waiters[1:]
	w.granted <- s.grant(sl, s.clock.Now(), w.ttl)
}
