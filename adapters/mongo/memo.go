package mongo

import (
	"sync"
	"time"
)

// What this process remembers, so the hot path can skip or overlap reads.
//
// Each fact is used only where an old copy is harmless; losing any of
// them only costs the read it saves.
//
//   - Grants: the leases this process holds, each with the moment until
//     which nobody else can hold it by this process's clock (its expiry,
//     as the acquiring write was sent, less Config.LeaseClockSkew). A
//     commit sent early enough to end before that needs no read of its
//     lease (DB.holdsAlone).
//   - Turns: the highest turn number this process saw committed per
//     session. LockSession asks for the lease of the number after it at
//     the same time as it reads the session (lock.go); a guess that turns
//     out old costs one more lease write, never a wrong grant, because the
//     read decides.
//   - Actives: the session each channel identity last resolved to, for
//     the same guess by channel identity.
//   - Closes: the sessions this process closed, with the turns committed
//     before each close, so a commit's answer shows a close that landed
//     while its turn ran, as the turn read back does (turns.go). A close
//     never changes once written; a close made by another instance is not
//     here, and a commit's answer then shows the session as the turn built
//     it, where a read shows the close.
const memoLimit = 1 << 16 // per map; past it, stale entries go, then all

type grant struct {
	fence      int64
	aloneUntil time.Time
	// committed: the lease's turn is stored, so the lease is spent and
	// its release has nothing to free.
	committed bool
}

// closeNote is a close this process made: the turns committed before it
// (sessionDoc.ClosedTurns), when, and the session's base version.
type closeNote struct {
	turns, closedNS, baseVersion int64
}

type memo struct {
	mu      sync.Mutex
	grants  map[string]grant     // by lease id (tenant/session/turn)
	turns   map[string]int64     // by session key (tenant/session)
	actives map[string]string    // session id by channel identity id
	closes  map[string]closeNote // by session key
}

func newMemo() *memo {
	return &memo{grants: map[string]grant{}, turns: map[string]int64{}, actives: map[string]string{}, closes: map[string]closeNote{}}
}

func bound[K comparable, V any](m map[K]V, stale func(V) bool) {
	if len(m) < memoLimit {
		return
	}
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	if len(m) >= memoLimit {
		clear(m)
	}
}

// noteGrant remembers a lease this process was just granted.
func (m *memo) noteGrant(leaseID string, g grant, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.grants, func(g grant) bool { return g.aloneUntil.Before(now) })
	m.grants[leaseID] = g
}

// grantOf returns the grant of fence, if this process still holds it.
func (m *memo) grantOf(leaseID string, fence int64) (grant, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.grants[leaseID]
	return g, ok && g.fence == fence
}

// renewGrant moves the moment until which the grant of fence is held
// alone, after a renewal of its lease.
func (m *memo) renewGrant(leaseID string, fence int64, aloneUntil time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g, ok := m.grants[leaseID]; ok && g.fence == fence && aloneUntil.After(g.aloneUntil) {
		g.aloneUntil = aloneUntil
		m.grants[leaseID] = g
	}
}

// markCommitted notes that the grant of fence was used by its commit.
func (m *memo) markCommitted(leaseID string, fence int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if g, ok := m.grants[leaseID]; ok && g.fence == fence {
		g.committed = true
		m.grants[leaseID] = g
	}
}

// dropGrant forgets the grant of fence: released, or given up.
func (m *memo) dropGrant(leaseID string, fence int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grants[leaseID].fence == fence {
		delete(m.grants, leaseID)
	}
}

// noteTurns remembers that the session has at least n committed turns.
func (m *memo) noteTurns(sessionKey string, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.turns, func(int64) bool { return true })
	m.turns[sessionKey] = max(m.turns[sessionKey], n)
}

// turnsOf returns the highest turn number seen committed, if any.
func (m *memo) turnsOf(sessionKey string) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.turns[sessionKey]
	return n, ok
}

// noteActive remembers the session a channel identity resolved to.
func (m *memo) noteActive(identity, sessionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.actives, func(string) bool { return true })
	m.actives[identity] = sessionID
}

// activeOf returns the session a channel identity last resolved to.
func (m *memo) activeOf(identity string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.actives[identity]
	return id, ok
}

// noteClosed remembers a close this process made.
func (m *memo) noteClosed(sessionKey string, c closeNote) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bound(m.closes, func(closeNote) bool { return true })
	m.closes[sessionKey] = c
}

// closeOf returns the close this process made of the session, if any.
func (m *memo) closeOf(sessionKey string) (closeNote, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.closes[sessionKey]
	return c, ok
}

// forgetSession drops what this process knows about a deleted session.
func (m *memo) forgetSession(sessionKey string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.turns, sessionKey)
	delete(m.closes, sessionKey)
}
