package mongo

import (
	"sync"
	"time"
)

// What this process remembers, so the hot path can skip reads.
//
// Each fact is used only in the direction where an old copy is harmless;
// losing any of them only costs the read it saves.
//
// Grants: the last lease this process was granted per session, with its
// expiry as written into the lease document by this process's clock. A
// lease is taken over only once it expired by the taker's clock, and
// clocks differ by at most Config.LeaseClockSkew, so nobody else can hold
// it before expiry − skew by the holder's clock. A write under the lease
// whose own deadline (OperationTimeout) ends before that moment needs no
// read of the lease: see Store.alone.
//
// Sessions seen: when each session was last seen to exist, and the highest
// turn number seen committed.
//
//   - Existence. A session is removed only by DeleteSession, which first
//     seals its lease (lease.go): a lease document that is never released
//     and stays tombstoneKeep. So when the lease insert of a session seen
//     within seenTTL succeeds, the session is still there, and LockSession
//     skips its session read. (seenTTL is far below tombstoneKeep.)
//   - Channel key. The session this process last resolved each channel
//     identity to (identities.go says why a session that reads as active
//     still holds its key).
//   - Turn number. A session loses no turn while it exists, so a number
//     seen is at most its count now. A commit of exactly seen+1 therefore
//     cannot skip a number: it is the next one, or it is taken and the
//     unique key refuses it. Only other numbers need the newest turn read
//     to tell a skipped number from a taken one.
const (
	seenTTL = time.Minute
	// tombstoneKeep is how long a deleted session's sealed lease stays
	// where the server has TTL indexes (forever where it has none).
	tombstoneKeep = 24 * time.Hour
	// memoLimit bounds each map; past it, stale entries go, then all.
	memoLimit = 1 << 16
)

type grant struct {
	fence     int64
	expiresNS int64
}

type seen struct {
	atNS  int64 // when the session was last seen to exist; 0: not known
	turns int64 // highest turn number seen committed; -1: none seen
}

type memo struct {
	mu       sync.Mutex
	grants   map[string]grant  // by lease id (tenant/session)
	sessions map[string]seen   // by lease id
	actives  map[string]string // session id by channel identity id
}

func newMemo() *memo {
	return &memo{grants: map[string]grant{}, sessions: map[string]seen{}, actives: map[string]string{}}
}

// noteActive remembers the session a channel identity resolved to.
func (s *Store) noteActive(key, sessionID string) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.actives) >= memoLimit {
		clear(m.actives)
	}
	m.actives[key] = sessionID
}

// activeOf returns the session a channel identity last resolved to.
func (s *Store) activeOf(key string) (string, bool) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.actives[key]
	return id, ok
}

// forgetActive drops the key's session if it is still sessionID.
func (s *Store) forgetActive(key, sessionID string) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.actives[key] == sessionID {
		delete(m.actives, key)
	}
}

// noteGrant remembers the lease this process was just granted.
func (s *Store) noteGrant(id string, fence, expiresNS int64) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.grants) >= memoLimit {
		now := s.clock.Now().UnixNano()
		for k, g := range m.grants {
			if g.expiresNS < now {
				delete(m.grants, k)
			}
		}
		if len(m.grants) >= memoLimit {
			clear(m.grants)
		}
	}
	m.grants[id] = grant{fence: fence, expiresNS: expiresNS}
}

// dropGrant forgets the grant of fence, once released.
func (s *Store) dropGrant(id string, fence int64) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.grants[id].fence == fence {
		delete(m.grants, id)
	}
}

// holdsAlone reports whether fence is the lease this process was granted
// for id and nobody else can hold it before a write sent now is over.
func (s *Store) holdsAlone(id string, fence int64) bool {
	m := s.memo
	m.mu.Lock()
	g, ok := m.grants[id]
	m.mu.Unlock()
	return ok && fence != 0 && g.fence == fence && s.alone(g.expiresNS)
}

// alone reports whether a write sent now, bounded by the operation
// timeout, is over before anyone else can take over a lease expiring at
// expiresNS (by this process's clock): a taker needs the lease expired by
// its own clock, which is at most LeaseClockSkew ahead of ours.
func (s *Store) alone(expiresNS int64) bool {
	end := s.clock.Now().Add(s.cfg.OperationTimeout)
	return end.UnixNano() < expiresNS-int64(s.cfg.LeaseClockSkew)
}

// noteSession remembers that the session existed at atNS (the start of the
// read or write that showed it) with turns committed.
func (s *Store) noteSession(id string, atNS, turns int64) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) >= memoLimit {
		stale := s.clock.Now().Add(-seenTTL).UnixNano()
		for k, v := range m.sessions {
			if v.atNS < stale {
				delete(m.sessions, k)
			}
		}
		if len(m.sessions) >= memoLimit {
			clear(m.sessions)
		}
	}
	cur, ok := m.sessions[id]
	if !ok {
		cur = seen{turns: -1}
	}
	cur.atNS = max(cur.atNS, atNS)
	cur.turns = max(cur.turns, turns)
	m.sessions[id] = cur
}

// noteTurns remembers a turn number seen committed.
func (s *Store) noteTurns(id string, turns int64) {
	s.noteSession(id, 0, turns)
}

// seenLately reports whether the session was seen to exist within seenTTL.
func (s *Store) seenLately(id string) bool {
	m := s.memo
	m.mu.Lock()
	v, ok := m.sessions[id]
	m.mu.Unlock()
	return ok && v.atNS > 0 && s.clock.Now().UnixNano()-v.atNS < int64(seenTTL)
}

// seenTurns returns the highest turn number seen committed, if any.
func (s *Store) seenTurns(id string) (int64, bool) {
	m := s.memo
	m.mu.Lock()
	v, ok := m.sessions[id]
	m.mu.Unlock()
	return v.turns, ok && v.turns >= 0
}

// forgetSession drops what this process knows about a session (deleted).
func (s *Store) forgetSession(id string) {
	m := s.memo
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	delete(m.grants, id)
}
