package memory

import (
	"context"
	"errors"
	"slices"

	"focal/domain"
	"focal/ports"
)

// CommitTurn implements ports.TurnStore. It keeps the turn's audit record
// as JSON, encoded before it takes the lock, and SessionAfter as the
// session's new snapshot, which the caller handed over
// (ports.TurnStore.CommitTurn): the session is not copied, nor encoded
// while it is in use. The turn before keeps its SessionAfter as a delta
// against this one's JSON from then on, made after the lock is let go. A
// commit that stores the turn lets its lease go (one lease, one turn):
// the session's next turn need not wait for the holder's Release.
func (s *Store) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if turn == nil || turn.SessionAfter == nil || turn.ID == "" || turn.TurnNumber < 1 {
		return domain.InvalidFields(domain.FieldError{Field: "turn", Message: "needs an id, a turn number from 1 and the session after it"})
	}
	if lease.Fence == 0 {
		return domain.InvalidFields(domain.FieldError{Field: "lease", Message: "a commit needs the lease of its session"})
	}
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	st := keepTurn(enc, turn, true)
	older, err := s.commit(lease, turn, &st, true)
	if err == errOtherAgent {
		// No service commits one, but a turn of another agent than its
		// session's keeps its own.
		st = keepTurn(enc, turn, false)
		older, err = s.commit(lease, turn, &st, false)
	}
	if err == nil && older.t != nil {
		// SessionAfter is frozen as committed: it never changes again.
		s.shrinkAfter(enc, older, turn.SessionAfter)
	}
	return err
}

// errOtherAgent refuses to commit a kept turn whose audit record leaves
// out the agent when it is not the session's.
var errOtherAgent = errors.New("the turn's agent is not its session's")

// commit stores a copy of kept, what keepTurn kept of turn, under lease;
// older is the turn before when its SessionAfter is to be encoded, or can
// become a delta against turn's. sessionAgent says kept's record leaves
// out the agent, which must then be the session's: else commit stores
// nothing and returns errOtherAgent.
func (s *Store) commit(lease ports.LeaseToken, turn *domain.Turn, kept *storedTurn, sessionAgent bool) (older olderAfter, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, l, err := s.committedTo(lease, turn)
	if err != nil {
		return older, err
	}
	if e.keeps(turn.ID, turn.TurnNumber) {
		return older, nil // committed already: a retry after a lost answer
	}
	if answers := kept.answers(); answers != "" {
		if other, ok := s.answered[answers]; ok {
			return older, &ports.AnsweredError{TurnID: other}
		}
		if other, ok := s.cold.findAnswer(answers); ok {
			return older, &ports.AnsweredError{TurnID: other}
		}
	}
	if l == nil || l.holder != lease.Fence || lease.SessionID != turn.SessionID {
		return older, busy("session %s: the lease of this turn was taken over", turn.SessionID)
	}
	stored, err := s.current(e)
	if err != nil {
		return older, err
	}
	if turn.TurnNumber != lease.TurnNumber || turn.TurnNumber != stored.TurnCount+1 {
		return older, busy("session %s: turn %d is already committed or out of order (the session has %d)", turn.SessionID, turn.TurnNumber, stored.TurnCount)
	}
	if s.turnIDTaken(turn.ID) {
		// As the SQL stores' primary key refuses it: another turn's
		// record must not be replaced in the index of turns by id.
		return older, busy("session %s: turn id %s is another turn's", turn.SessionID, turn.ID)
	}
	if sessionAgent && turn.AgentID != e.agent() {
		return older, errOtherAgent
	}
	// Status belongs to the session, not the turn: a close that happened
	// while the turn ran stays.
	next := turn.SessionAfter
	next.Status, next.ClosedAt = stored.Status, stored.ClosedAt
	if c := stored.ClosedAt; c != nil && c.After(next.UpdatedAt) {
		next.UpdatedAt = *c // the close changed the session after the turn did
	}
	next.Version = stored.Version + 1
	next.Freeze()
	st := e.place(kept)
	st.sess, st.liveAfter = e, next
	e.setSnap(next)
	e.touched = s.now()
	s.keep(e, st)
	s.used.add(e, e.touched)
	s.idleAfterCommit(e.touched)
	s.spend(l, lease.Fence, turn.SessionID) // one lease, one turn
	older = e.shrinkable(st, s.retention.MaxTurns)
	older.newest = st
	return older, nil
}

// spend lets go l, the lease record of sessionID, which the holder of
// fence has just used to commit its turn: in the commit's own hold of the
// lock, as the SQL stores' commit clears the lease, so that the session's
// next turn gets it then, and the holder's Release, with nothing left to
// do, takes no lock (see lease.spent). The caller holds s.mu.
func (s *Store) spend(l *sessionLease, fence int64, sessionID string) {
	l.spent.Store(fence)
	s.handOn(l, sessionID)
}

// committedTo returns the session turn is committed to, as Store.session
// would: the entry its lease was taken on while the lease is still the
// caller's and the entry in the store (a session under lease is never
// packed, and an entry gone never comes back), without a look-up into the
// map of every session in use; else as Store.session finds it. l is the
// session's lease record, if any. The caller holds s.mu.
func (s *Store) committedTo(lease ports.LeaseToken, turn *domain.Turn) (e *sessionEntry, l *sessionLease, err error) {
	l = s.leases[turn.SessionID]
	if l != nil && l.holder == lease.Fence && l.entry != nil && !l.entry.gone && l.entry.tenant() == turn.TenantID {
		return l.entry, l, nil
	}
	e, err = s.session(turn.TenantID, turn.SessionID)
	return e, l, err
}

// keeps reports whether e keeps turn id as its turn number: what
// turnByID would say of it (it indexes every turn of a session in use),
// found in e's turns, numbered consecutively, without a look-up into the
// map of every turn in use, which the commit makes once, to add the turn.
// The numbers are counted back from the newest turn, which the commit
// reads anyway, not read off the oldest, which nothing else on a
// returning user's turn touches. The caller holds the store's lock.
func (e *sessionEntry) keeps(id string, number int) bool {
	n := len(e.turns)
	if n == 0 {
		return false
	}
	i := number - (e.turns[n-1].number - (n - 1))
	return i >= 0 && i < n && e.turns[i].id() == id
}

// turnIDTaken reports whether a kept turn, of any session or tenant, hot
// or cold, has id; the caller holds the store's lock.
func (s *Store) turnIDTaken(id string) bool {
	if _, ok := s.turnByID[id]; ok {
		return true
	}
	_, ok := s.cold.findTurn(id)
	return ok
}

// place returns a copy of st where e keeps it: in e itself when it is
// e's first turn, else in an object of its own.
func (e *sessionEntry) place(st *storedTurn) *storedTurn {
	if len(e.turns) == 0 && e.firstTurn.sess == nil {
		e.firstTurn = *st
		return &e.firstTurn
	}
	kept := new(storedTurn)
	*kept = *st
	return kept
}

// keep adds st to e's kept turns and the indexes, dropping what retention
// lets go; the caller holds s.mu.
func (s *Store) keep(e *sessionEntry, st *storedTurn) {
	e.turns = append(e.turns, st)
	if cap(e.turns) > len(e.first) {
		e.first = [1]*storedTurn{} // the turns moved out
	}
	s.turnByID[st.id()] = st
	if answers := st.answers(); answers != "" {
		s.answered[answers] = st.id()
	}
	if over := len(e.turns) - s.retention.MaxTurns; s.retention.MaxTurns > 0 && over > 0 {
		for _, old := range e.turns[:over] {
			s.forgetTurn(old)
			if old == &e.firstTurn {
				e.firstTurn = storedTurn{} // its strings may go
			}
		}
		clear(e.turns[:over])
		e.turns = e.turns[over:]
	}
	// The turn before is no longer the session's snapshot: it reads from
	// its encoding alone, unless it has none yet (see shrinkAfter).
	if n := len(e.turns); n > 1 && e.turns[n-2].hasAfter() {
		e.turns[n-2].liveAfter, e.turns[n-2].liveJSON = nil, nil
	}
}

// forgetTurn drops a kept turn from the indexes; the caller holds s.mu.
func (s *Store) forgetTurn(t *storedTurn) {
	delete(s.turnByID, t.id())
	if answers := t.answers(); answers != "" && s.answered[answers] == t.id() {
		delete(s.answered, answers)
	}
}

func busy(format string, args ...any) error {
	e := domain.Errorf(domain.CodeSessionBusy, format, args...)
	e.RetryAfter = busyRetryAfter
	return e
}

// GetTurn implements ports.TurnStore. A turn dropped by retention is
// TURN_NOT_FOUND.
func (s *Store) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	var run []storedTurn
	t, ok := s.turnByID[turnID]
	if !ok {
		t, ok = s.thawTurn(tenantID, turnID)
	}
	if ok && t.sess.tenant() == tenantID {
		i := t.number - t.sess.turns[0].number
		run = t.sess.copyRun(i, i+1)
	}
	s.mu.Unlock()
	if run == nil {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	// Copies taken under the lock: decoding them outside is safe.
	out, err := decodeRun(run, 1)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// copyRun copies the kept turns lo to hi (excluded), and the newer ones
// their SessionAfter is read through, up to the first held whole; the
// caller holds the store's lock.
func (e *sessionEntry) copyRun(lo, hi int) []storedTurn {
	if lo >= hi {
		return nil
	}
	end := hi
	for end < len(e.turns) && e.turns[end-1].delta {
		end++
	}
	run := make([]storedTurn, end-lo)
	for i, t := range e.turns[lo:end] {
		run[i] = *t
	}
	return run
}

// ListTurns implements ports.TurnStore; it lists the kept turns.
func (s *Store) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[domain.Turn]{}, unavailable(err)
	}
	after, hasCursor, err := ports.TurnCursors.After(q.Page.Cursor, tenantID, sessionID)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	limit := ports.PageLimit(q.Page.Limit)
	s.mu.Lock()
	e, err := s.session(tenantID, sessionID)
	if err != nil {
		s.mu.Unlock()
		return ports.Page[domain.Turn]{}, err
	}
	lo, n, more := e.pageOfTurns(int(after), hasCursor, q.Order == ports.OrderDesc, limit)
	run := e.copyRun(lo, lo+n)
	s.mu.Unlock()

	items, err := decodeRun(run, n)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	page := ports.Page[domain.Turn]{Items: items}
	last := n - 1
	if q.Order == ports.OrderDesc {
		slices.Reverse(items)
		last = 0
	}
	if more {
		page.NextCursor = ports.TurnCursors.Cursor(tenantID, sessionID, int64(run[last].number))
	}
	return page, nil
}

// pageOfTurns picks the kept turns a page lists, as the index of the
// oldest of them in e.turns and their count; more reports that kept turns
// follow them in the page's order. The caller holds the store's lock.
func (e *sessionEntry) pageOfTurns(after int, hasCursor, desc bool, limit int) (lo, n int, more bool) {
	kept := e.turns
	// Kept turns are numbered consecutively from the first one kept.
	first := 1
	if len(kept) > 0 {
		first = kept[0].number
	}
	i, step := 0, 1
	if desc {
		i, step = len(kept)-1, -1
	}
	if hasCursor {
		// Resume after the cursor's number; a cursor into turns
		// retention dropped resumes at the oldest kept (ascending) or
		// has nothing older (descending).
		i = after + step - first
		if step > 0 {
			i = max(i, 0)
		} else {
			i = min(i, len(kept)-1)
		}
	}
	lo = i
	for ; i >= 0 && i < len(kept); i += step {
		if n == limit {
			more = true
			break
		}
		n++
	}
	if desc {
		lo = lo - n + 1
	}
	return lo, n, more
}

// RecentHistory implements ports.TurnStore: it copies n small entries,
// whatever the size of the turn records. A missing session (or another
// tenant's) has no turns: the list is empty, as from the MongoDB store.
func (s *Store) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.session(tenantID, sessionID)
	if err != nil {
		return []domain.HistoryEntry{}, nil
	}
	return e.history(n), nil
}

// newestTurns appends to into the pointers to the newest n kept turns,
// oldest first, for a lease to read their history entries once the
// store's lock is let go (see lease.History): what an entry reads of a
// kept turn (its number and text) never changes, but for the first turn,
// which the entry holds in itself and retention empties in place (see
// Store.keep), so the lease reads a copy of that one. The caller holds
// the store's lock.
func (e *sessionEntry) newestTurns(n int, into []*storedTurn) []*storedTurn {
	if n <= 0 || len(e.turns) == 0 {
		return nil
	}
	newest := append(into, e.turns[max(0, len(e.turns)-n):]...)
	if newest[0] == &e.firstTurn {
		first := e.firstTurn
		newest[0] = &first
	}
	return newest
}

// history copies the entries of the newest n kept turns, oldest first; the
// caller holds the store's lock.
func (e *sessionEntry) history(n int) []domain.HistoryEntry {
	if n <= 0 {
		return []domain.HistoryEntry{}
	}
	newest := e.turns[max(0, len(e.turns)-n):]
	out := make([]domain.HistoryEntry, len(newest))
	for i, t := range newest {
		out[i] = t.history()
	}
	return out
}
