package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"focal/domain"
	"focal/ports"
)

// findOrCreateActive returns the active session of req's channel key,
// of req's tenant, storing req's new session as it when there is none
// (LockSession by key): only then is that session built. created reports
// that. The caller holds s.mu.
func (s *Store) findOrCreateActive(req *ports.LockRequest) (e *sessionEntry, created bool, err error) {
	k := s.activeKeyOf(req.ChannelKey())
	if e, ok := s.active[k]; ok {
		return e, false, nil
	}
	if h, ok := s.cold.findKey(k); ok {
		return s.thaw(h), false, nil
	}
	candidate, err := req.NewSession()
	if err != nil {
		return nil, false, err
	}
	if req.Candidate != nil {
		// The caller's: else NewSession built it for the store alone.
		candidate = candidate.Clone()
	}
	e = s.newEntry(candidate, k)
	s.sessions[e.id()] = e
	s.active[e.key()], e.active = e, true
	s.hotPeak = max(s.hotPeak, len(s.sessions))
	return e, true, nil
}

// GetSession implements ports.SessionStore.
func (s *Store) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.session(tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	e.touched = s.now()
	snap, err := s.view(e)
	return snap.Clone(), err
}

// session returns the stored session, thawed when it is cold (see
// Store.thaw); the caller holds s.mu.
func (s *Store) session(tenantID, sessionID string) (*sessionEntry, error) {
	e, ok := s.sessions[sessionID]
	if !ok {
		e, ok = s.thawSession(tenantID, sessionID)
	}
	if !ok || e.tenant() != tenantID {
		return nil, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	return e, nil
}

// ListSessions implements ports.SessionStore: newest first, by creation time
// then id.
func (s *Store) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[domain.Session]{}, unavailable(err)
	}
	afterNS, afterID, paged, err := ports.SessionAfter(q.Page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	after := ""
	if paged {
		after = sessionSortKey(afterNS, afterID)
	}
	s.mu.Lock()
	var found []listed
	for _, e := range s.sessions {
		if e.tenant() != tenantID || (q.AgentID != "" && e.agent() != q.AgentID) || (q.Status != "" && e.status != q.Status) {
			continue
		}
		if key := sessionSortKey(e.created, e.id()); after == "" || key < after {
			found = append(found, listed{e: e, key: key, created: e.created, id: e.id()})
		}
	}
	found = s.listCold(found, tenantID, q, after)
	s.mu.Unlock()
	slices.SortFunc(found, func(a, b listed) int { return cmp.Compare(b.key, a.key) })
	page := paginate(found, q.Page.Limit, func(x listed) string { return ports.SessionCursor(tenantID, x.created, x.id) })
	out := ports.Page[domain.Session]{Items: make([]domain.Session, len(page.Items)), NextCursor: page.NextCursor}
	// The page's sessions as they are now (a session is never moved to
	// another tenant, agent or creation time).
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range page.Items {
		e := x.e
		if e == nil {
			e = s.cold.entry(x.r)
		}
		snap, err := s.view(e)
		if err != nil {
			return ports.Page[domain.Session]{}, err
		}
		out.Items[i] = *snap.Clone()
	}
	return out, nil
}

// listed is a session ListSessions found: its entry, or when it was cold
// its record as it was then (slabs never change), its sort key, and the
// creation time and id that key is made of.
type listed struct {
	e       *sessionEntry
	r       coldRecord
	key     string
	created int64
	id      string
}

// listCold adds to found the cold sessions ListSessions lists; the caller
// holds s.mu.
func (s *Store) listCold(found []listed, tenantID string, q ports.SessionQuery, after string) []listed {
	for h, p := range s.cold.slots {
		if p == 0 {
			continue
		}
		r := s.cold.record(uint32(h))
		names := s.cold.names[r.names()].Value()
		if names.tenant != tenantID || (q.AgentID != "" && names.agent != q.AgentID) || (q.Status != "" && domain.SessionStatus(r.status()) != q.Status) {
			continue
		}
		if key := sessionSortKey(r.created(), r.id()); after == "" || key < after {
			found = append(found, listed{r: r, key: key, created: r.created(), id: r.id()})
		}
	}
	return found
}

// sessionSortKey orders sessions by creation time (Unix ns), then id;
// fixed-width time keeps string order equal to time order.
func sessionSortKey(created int64, id string) string {
	return fmt.Sprintf("%020d|%s", created, id)
}

// CloseSession implements ports.SessionStore.
func (s *Store) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.session(tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	snap, err := s.current(e)
	if err != nil {
		return nil, err
	}
	closed := snap.Clone()
	closed.Close(at)
	closed.Freeze()
	e.setSnap(closed)
	s.inactive(e)
	return closed.Clone(), nil
}

// DeleteSession implements ports.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.session(tenantID, sessionID)
	if err != nil {
		return err
	}
	s.drop(e)
	return nil
}

// drop forgets a session and its turns, for good: it was deleted or
// expired, or went cold (see chill). The caller holds s.mu.
func (s *Store) drop(e *sessionEntry) {
	s.inactive(e)
	for _, t := range e.turns {
		s.forgetTurn(t)
	}
	delete(s.sessions, e.id())
	e.gone = true
}

// inactive makes e no longer its channel key's active session; the
// caller holds s.mu.
func (s *Store) inactive(e *sessionEntry) {
	if e.active {
		delete(s.active, e.key())
		e.active = false
	}
}
