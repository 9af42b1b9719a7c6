package memory

import (
	"context"
	"sync"
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
}

type leaseWaiter struct {
	ttl     time.Duration
	granted chan int64 // receives the fence when the lease is handed over
}

// lease is a held lease.
type lease struct {
	store     *Store
	sessionID string
	fence     int64
	once      sync.Once

	// What the holder got with the lease.
	turnNumber int
	session    *domain.Session
	history    []domain.Turn
	created    bool
}

// LockSession implements ports.SessionLocker: the session is resolved
// (and by channel key created), locked, then read under the lease.
func (s *Store) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	sessionID, created := req.SessionID, false
	if sessionID == "" {
		c := req.Candidate
		if c == nil || c.ID == "" || req.TenantID == "" || c.TenantID != req.TenantID {
			return nil, domain.InvalidFields(domain.FieldError{Field: "session", Message: "a session id, or a candidate of the tenant, is required"})
		}
		found, isNew, err := s.FindOrCreateActive(ctx, c)
		if err != nil {
			return nil, err
		}
		sessionID, created = found.ID, isNew
	}
	l, err := s.lock(ctx, req.TenantID, sessionID, req.Wait, req.TTL)
	if err != nil {
		return nil, err
	}
	sess, err := s.GetSession(ctx, req.TenantID, sessionID)
	if err == nil {
		l.history, err = s.RecentTurns(ctx, req.TenantID, sessionID, req.History)
	}
	if err != nil {
		_ = l.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	l.session, l.turnNumber, l.created = sess, sess.TurnCount+1, created
	return l, nil
}

// lock waits for the lease of an existing session.
func (s *Store) lock(ctx context.Context, tenantID, sessionID string, wait, ttl time.Duration) (*lease, error) {
	s.mu.Lock()
	if _, err := s.session(tenantID, sessionID); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	l := s.leases[sessionID]
	if l == nil {
		l = &sessionLease{}
		s.leases[sessionID] = l
	}
	now := s.clock.Now()
	if l.holder == 0 {
		fence := s.grant(l, now, ttl)
		s.mu.Unlock()
		return &lease{store: s, sessionID: sessionID, fence: fence}, nil
	}
	w := &leaseWaiter{ttl: ttl, granted: make(chan int64, 1)}
	l.waiters = append(l.waiters, w)
	untilExpiry := l.expires.Sub(now)
	s.mu.Unlock()

	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	expiry := time.NewTimer(max(untilExpiry, 0) + time.Millisecond)
	defer expiry.Stop()
	for {
		select {
		case fence := <-w.granted:
			return &lease{store: s, sessionID: sessionID, fence: fence}, nil
		case <-expiry.C:
			if fence, ok := s.takeOver(l, w); ok {
				return &lease{store: s, sessionID: sessionID, fence: fence}, nil
			}
			s.mu.Lock()
			expiry.Reset(max(l.expires.Sub(s.clock.Now()), 0) + time.Millisecond)
			s.mu.Unlock()
		case <-deadline.C:
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

// History implements ports.SessionLease.
func (l *lease) History() []domain.Turn {
	out := make([]domain.Turn, 0, len(l.history))
	for i := range l.history {
		out = append(out, *cloneTurn(&l.history[i]))
	}
	return out
}

// Created implements ports.SessionLease.
func (l *lease) Created() bool { return l.created }

// Release implements ports.SessionLease: the lease goes to the longest
// waiter, or becomes free.
func (l *lease) Release(context.Context) error {
	l.once.Do(func() {
		s := l.store
		s.mu.Lock()
		defer s.mu.Unlock()
		sl := s.leases[l.sessionID]
		if sl == nil || sl.holder != l.fence {
			return // taken over after expiry, or the session was deleted
		}
		if len(sl.waiters) == 0 {
			delete(s.leases, l.sessionID)
			return
		}
		w := sl.waiters[0]
		sl.waiters = sl.waiters[1:]
		w.granted <- s.grant(sl, s.clock.Now(), w.ttl)
	})
	return nil
}
