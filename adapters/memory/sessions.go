package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
	"unique"

	"focal/domain"
	"focal/ports"
)

// findOrCreateActive returns the id of the active session of req's
// channel key, storing req's new session as it when there is none
// (LockSession by key): only then is that session built. created reports
// that. The caller holds s.mu.
func (s *Store) findOrCreateActive(req *ports.LockRequest) (id string, created bool, err error) {
	if id, ok := s.active[req.ChannelKey()]; ok {
		return id, false, nil
	}
	candidate, err := req.NewSession()
	if err != nil {
		return "", false, err
	}
	e := &sessionEntry{snap: candidate.Clone(), touched: s.clock.Now()}
	shareNames(e.snap)
	e.snap.Freeze()
	s.sessions[e.snap.ID] = e
	s.active[e.snap.Key()] = e.snap.ID
	return e.snap.ID, true, nil
}

// shareNames points a new session's tenant, agent and channel at the one
// kept copy of each name (unique.Make): every request decodes its own copy,
// thousands of sessions name the same few, and every later snapshot of the
// session shares the session's. The values are unchanged.
func shareNames(s *domain.Session) {
	s.TenantID = unique.Make(s.TenantID).Value()
	s.AgentID = unique.Make(s.AgentID).Value()
	s.Channel = unique.Make(s.Channel).Value()
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
	e.touched = s.clock.Now()
	return e.snap.Clone(), nil
}

// session returns the stored session; the caller holds s.mu.
func (s *Store) session(tenantID, sessionID string) (*sessionEntry, error) {
	e, ok := s.sessions[sessionID]
	if !ok || e.snap.TenantID != tenantID {
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
	after, err := ports.DecodeCursor(q.Page.Cursor)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	s.mu.Lock()
	var out []domain.Session
	for _, e := range s.sessions {
		sess := e.snap
		if sess.TenantID != tenantID || (q.AgentID != "" && sess.AgentID != q.AgentID) || (q.Status != "" && sess.Status != q.Status) {
			continue
		}
		if after != "" && sessionSortKey(sess) >= after {
			continue
		}
		out = append(out, *sess.Clone())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b domain.Session) int { return cmp.Compare(sessionSortKey(&b), sessionSortKey(&a)) })
	return paginate(out, q.Page.Limit, func(x domain.Session) string { return sessionSortKey(&x) }), nil
}

// sessionSortKey orders sessions by creation time, then id; fixed-width
// time keeps string order equal to time order.
func sessionSortKey(s *domain.Session) string {
	return fmt.Sprintf("%020d|%s", s.CreatedAt.UnixNano(), s.ID)
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
	closed := e.snap.Clone()
	closed.Close(at)
	e.snap = closed
	if s.active[closed.Key()] == closed.ID {
		delete(s.active, closed.Key())
	}
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

// drop forgets a session and its turns; the caller holds s.mu.
func (s *Store) drop(e *sessionEntry) {
	if s.active[e.snap.Key()] == e.snap.ID {
		delete(s.active, e.snap.Key())
	}
	for _, t := range e.turns {
		s.forgetTurn(t)
	}
	delete(s.sessions, e.snap.ID)
}
