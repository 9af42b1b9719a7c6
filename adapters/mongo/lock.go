package mongo

import (
	"context"
	"errors"
	"time"

	"focal/adapters/leasekit"
	"focal/domain"
	"focal/ports"
)

// Leases implements ports.SessionLocker on MongoDB.
type Leases struct{ db *DB }

var _ ports.SessionLocker = (*Leases)(nil)

// NewLeases returns the session locker of db.
func NewLeases(db *DB) *Leases { return &Leases{db: db} }

// LockSession implements ports.SessionLocker: the session is read (by id
// or by channel key, with its newest turns) and the lease of its next
// turn written (leases.go).
//
// When this process knows the session's turn count (it served the
// session's last turn, or read it since), the lease of the next number is
// written at the same time as the session is read. The read decides: when
// it shows that count, the lease is granted with the read, which is
// current because the lease was free (nobody had taken that number, and
// a taken number's lease stays). When the count moved on, the lease just
// written names a number already taken, harmless and left to expire, and
// the lease of the right number is written next. So a returning user's
// lock costs one round trip of latency and two commands; a session this
// process knows nothing about, the read and then the lease write.
//
// A lease that had to wait is followed by a read under it. A channel key
// with no session gets the candidate inserted (its unique active_key is
// the claim) together with the lease of its turn 1.
func (ls *Leases) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	r, err := newLockRun(ls.db, req)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// lockRun is one LockSession call.
type lockRun struct {
	db       *DB
	req      ports.LockRequest
	match    sessionMatch
	identity string // the channel key's id, when locking by key
	deadline time.Time
	// fresh is the request's new session once built: every round of
	// creating it offers the same one.
	fresh *domain.Session
}

func newLockRun(db *DB, req ports.LockRequest) (*lockRun, error) {
	r := &lockRun{db: db, req: req, deadline: db.clock.Now().Add(req.Wait)}
	switch {
	case !req.NamesSession():
	case req.SessionID != "":
		r.match = byID(req.SessionID)
		return r, nil
	default:
		r.identity = channelKeyID(req.ChannelKey())
		r.match = byActiveKey(r.identity)
		return r, nil
	}
	return nil, domain.InvalidFields(domain.FieldError{Field: "session", Message: "a tenant and a session id, or a candidate of the tenant, are required"})
}

// speculation is a lease written before the read showed which was due.
type speculation struct {
	write leaseWrite
	grant grant
}

func (r *lockRun) run(ctx context.Context) (ports.SessionLease, error) {
	view, spec, err := r.firstRead(ctx)
	if err != nil {
		return nil, err
	}
	if view == nil && spec != nil {
		// A guess at a session that is gone (or no longer the key's).
		if err := r.db.giveBack(ctx, spec.write.id(), spec.grant.fence); err != nil {
			return nil, err
		}
		spec = nil
	}
	created := false
	for range maxResolveRounds {
		if view != nil || r.req.SessionID != "" {
			break
		}
		view, spec, created, err = r.create(ctx)
		if err != nil {
			return nil, err
		}
	}
	if view == nil {
		if r.req.SessionID != "" {
			return nil, sessionNotFound(r.req.SessionID)
		}
		return nil, &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: busyRetryAfter,
			Message: "the session of this channel identity keeps changing; retry"}
	}
	if spec != nil {
		if spec.write.sessionID == view.doc.ID && spec.write.turn == int(view.turns())+1 {
			return r.granted(ctx, view, spec.write, spec.grant, created)
		}
		if err := r.discard(ctx, spec, view); err != nil {
			return nil, err
		}
	}
	return r.wait(ctx, view, created)
}

// maxResolveRounds bounds the rounds against a channel key that keeps
// changing under a caller (sessions created and closed meanwhile).
const maxResolveRounds = 5

// guess is the session and turn count this process expects.
func (r *lockRun) guess() (string, int64, bool) {
	id := r.req.SessionID
	if id == "" {
		var ok bool
		if id, ok = r.db.memo.activeOf(r.identity); !ok {
			return "", 0, false
		}
	}
	turns, ok := r.db.memo.turnsOf(sessionKey(r.req.TenantID, id))
	return id, turns, ok
}

func (r *lockRun) leaseOf(sessionID string, turn int) leaseWrite {
	return leaseWrite{tenantID: r.req.TenantID, sessionID: sessionID, turn: turn, ttl: r.req.TTL}
}

// firstRead reads the session and, when this process can guess which
// lease is due, writes it at the same time.
func (r *lockRun) firstRead(ctx context.Context) (*sessionView, *speculation, error) {
	db := r.db
	guessID, turns, ok := r.guess()
	if !ok {
		view, err := db.readSession(ctx, r.req.TenantID, r.match, r.req.History, "")
		return view, nil, err
	}
	w := r.leaseOf(guessID, int(turns)+1)
	var view *sessionView
	var g *grant
	errRead, errLease := concurrently(
		func() (err error) {
			view, err = db.readSession(ctx, r.req.TenantID, r.match, r.req.History, guessID)
			return err
		},
		func() (err error) { g, err = db.tryLease(ctx, w); return err },
	)
	if errRead == nil && errLease == nil {
		if g == nil {
			return view, nil, nil
		}
		return view, &speculation{write: w, grant: *g}, nil
	}
	if g != nil {
		_ = db.giveBack(context.WithoutCancel(ctx), w.id(), g.fence)
	}
	if errRead != nil {
		return nil, nil, errRead
	}
	return nil, nil, errLease
}

// discard deals with a lease written on a wrong guess. One for a number
// already taken is left as it is: it only repeats what the taken number's
// own lease said, and expires. One of another session is given back.
func (r *lockRun) discard(ctx context.Context, spec *speculation, view *sessionView) error {
	if spec.write.sessionID == view.doc.ID && int64(spec.write.turn) <= view.turns() {
		r.db.memo.dropGrant(spec.write.id(), spec.grant.fence)
		return nil
	}
	return r.db.giveBack(ctx, spec.write.id(), spec.grant.fence)
}

// create stores the candidate as the key's session, writing the lease of
// its first turn at the same time. When another caller's session took the
// key first, it returns that session's view (nil when it is gone again).
func (r *lockRun) create(ctx context.Context) (*sessionView, *speculation, bool, error) {
	if r.fresh == nil {
		c, err := r.req.NewSession()
		if err != nil {
			return nil, nil, false, err
		}
		r.fresh = c
	}
	db, c := r.db, r.fresh
	doc, err := newSessionDoc(c)
	if err != nil {
		return nil, nil, false, err
	}
	doc.Status, doc.ActiveKey, doc.ClosedNS = string(domain.SessionActive), r.identity, 0
	w := r.leaseOf(c.ID, 1)
	var inserted bool
	var g *grant
	errInsert, errLease := concurrently(
		func() (err error) {
			inserted, err = db.insertOnce(ctx, db.sessions, doc, "create session", ours)
			return err
		},
		func() (err error) { g, err = db.tryLease(ctx, w); return err },
	)
	if errInsert != nil || !inserted {
		if g != nil {
			_ = db.giveBack(context.WithoutCancel(ctx), w.id(), g.fence)
		}
		if errInsert != nil {
			return nil, nil, false, errInsert
		}
		view, err := db.readSession(ctx, r.req.TenantID, r.match, r.req.History, "")
		return view, nil, false, err
	}
	view := &sessionView{doc: *doc}
	if errLease != nil {
		return nil, nil, true, errLease
	}
	if g == nil { // nobody else knows the new id; a lost answer read back as not ours
		return view, nil, true, nil
	}
	return view, &speculation{write: w, grant: *g}, true, nil
}

// wait writes the lease of the turn after view's, waiting while another
// holder has it. A lease granted after a wait is followed by a read under
// it, since the session may have moved on meanwhile.
// reread reads the session again after a lease g was granted on a view
// read before it was written. It gives the lease back and answers nil when
// the session has moved on (w then names the turn to lease instead), and
// gives it back with an error when the session is gone.
func (r *lockRun) reread(ctx context.Context, w *leaseWrite, g grant) (*sessionView, error) {
	db := r.db
	view, err := db.readSession(ctx, r.req.TenantID, byID(w.sessionID), r.req.History, w.sessionID)
	if err != nil || view == nil {
		_ = db.giveBack(context.WithoutCancel(ctx), w.id(), g.fence)
		if err == nil {
			err = sessionNotFound(w.sessionID)
		}
		return nil, err
	}
	if next := int(view.turns()) + 1; next != w.turn {
		_ = r.discard(ctx, &speculation{write: *w, grant: g}, view)
		w.turn = next
		return nil, nil
	}
	return view, nil
}

// grantedOrNot finishes a wait: the lease on view, or err.
func (r *lockRun) grantedOrNot(ctx context.Context, view *sessionView, w leaseWrite, g grant, created bool, err error) (ports.SessionLease, error) {
	if err != nil {
		return nil, err
	}
	return r.granted(ctx, view, w, g, created)
}

func (r *lockRun) wait(ctx context.Context, view *sessionView, created bool) (ports.SessionLease, error) {
	db := r.db
	w := r.leaseOf(view.doc.ID, int(view.turns())+1)
	fresh := true // view was read before w was written
	poll := minPoll
	for {
		g, err := db.tryLease(ctx, w)
		if err != nil {
			return nil, err
		}
		if g != nil && fresh {
			return r.granted(ctx, view, w, *g, created)
		}
		if g != nil {
			view, err = r.reread(ctx, &w, *g)
			if err != nil || view != nil {
				return r.grantedOrNot(ctx, view, w, *g, created, err)
			}
			continue // the session moved on while the lease was written: lease its next turn
		}
		fresh = false
		next, err := db.blockedBy(ctx, &w)
		if err != nil {
			return nil, err
		}
		if next == retryNow {
			continue
		}
		left := r.deadline.Sub(db.clock.Now())
		if left <= 0 {
			return nil, busyError(w.sessionID)
		}
		if err := sleep(ctx, min(jitter(poll), left)); err != nil {
			return nil, err
		}
		poll = min(2*poll, maxPoll)
	}
}

// granted makes the held lease.
func (r *lockRun) granted(ctx context.Context, view *sessionView, w leaseWrite, g grant, created bool) (ports.SessionLease, error) {
	s, err := view.session()
	var history []domain.HistoryEntry
	if err == nil {
		history, err = historyOf(view.history)
	}
	if err != nil {
		// Stored records that cannot be read: no turn can run on them.
		_ = r.db.giveBack(context.WithoutCancel(ctx), w.id(), g.fence)
		return nil, err
	}
	if r.identity != "" {
		r.db.memo.noteActive(r.identity, view.doc.ID)
	}
	r.db.memo.noteTurns(sessionKey(r.req.TenantID, view.doc.ID), view.turns())
	token := ports.LeaseToken{SessionID: w.sessionID, TurnNumber: w.turn, Fence: g.fence}
	return &lease{Grant: leasekit.NewGrant(token, s, history, created), db: r.db, id: w.id(), ttl: r.req.TTL}, nil
}

// errSealed reports a session whose lease a delete has sealed.
var errSealed = errors.New("the session's lease is sealed")

// blockOutcome is what a waiter learned about a lease it could not write.
type blockOutcome int

const (
	retryNow blockOutcome = iota // the lease moved on or was freed: write again
	pause                        // its holder is alive: wait
)

// blockedBy learns why w could not be written: turns committed meanwhile
// move w to the next number; a freed lease, or an expired one this caller
// removed, is written again; a sealed one means the session is gone.
func (db *DB) blockedBy(ctx context.Context, w *leaseWrite) (blockOutcome, error) {
	var cur *leaseDoc
	var turns int64
	errLease, errTurns := concurrently(
		func() (err error) { cur, err = db.findLease(ctx, w.id()); return err },
		func() (err error) { turns, err = db.newestTurnNumber(ctx, w.tenantID, w.sessionID); return err },
	)
	switch {
	case errLease != nil:
		return pause, errLease
	case errTurns != nil:
		return pause, errTurns
	case turns >= int64(w.turn):
		w.turn = int(turns) + 1
		return retryNow, nil
	case cur == nil:
		// Released meanwhile, or written but not yet on a majority (which
		// reads see): ask again after a pause, so the second never spins.
		return pause, nil
	case cur.Sealed && !w.seal:
		return pause, sessionNotFound(w.sessionID)
	case cur.Sealed:
		return retryNow, errSealed
	case db.caps.serverTime || !db.clock.Now().After(cur.ExpiresAt):
		// MongoDB's lease write takes an expired lease over by itself.
		return pause, nil
	}
	// Expired by this instance's clock, where the server cannot judge.
	ok, err := db.skew.allowsTakeover(ctx)
	if err != nil || !ok {
		return pause, err
	}
	won, err := db.takeOverLease(ctx, w.id(), cur.Fence)
	if err != nil || !won {
		return pause, err
	}
	return retryNow, nil
}

// sealLease takes the session's next lease for good, for DeleteSession:
// it waits for the turn in flight (or a dead holder's expiry), so no
// commit can land while the session is deleted, and it is never released.
// A session sealed already (a delete that did not finish) stays so.
func (db *DB) sealLease(ctx context.Context, tenantID, sessionID string) error {
	turns, err := db.newestTurnNumber(ctx, tenantID, sessionID)
	if err != nil {
		return err
	}
	w := leaseWrite{tenantID: tenantID, sessionID: sessionID, turn: int(turns) + 1, seal: true}
	poll := minPoll
	for {
		g, err := db.tryLease(ctx, w)
		if err != nil || g != nil {
			return err
		}
		next, err := db.blockedBy(ctx, &w)
		if errors.Is(err, errSealed) {
			return nil
		}
		if err != nil {
			return err
		}
		if next == retryNow {
			continue
		}
		// No deadline of its own: a holder's lease ends by its expiry.
		if err := sleep(ctx, jitter(poll)); err != nil {
			return err
		}
		poll = min(2*poll, maxPoll)
	}
}
