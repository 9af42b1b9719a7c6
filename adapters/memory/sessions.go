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

// FindOrCreateActive returns the active session of candidate's channel
// key, storing candidate as it when there is none (LockSession by key).
func (s *Store) FindOrCreateActive(ctx context.Context, candidate *domain.Session) (*domain.Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, unavailable(err)
	}
	key := candidate.Key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.active[key]; ok {
		return s.sessions[id].Clone(), false, nil
	}
	stored := candidate.Clone()
	s.sessions[stored.ID] = stored
	s.active[key] = stored.ID
	return stored.Clone(), true, nil
}

// GetSession implements ports.SessionStore.
func (s *Store) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	return sess.Clone(), nil
}

// session returns the stored session; the caller holds s.mu.
func (s *Store) session(tenantID, sessionID string) (*domain.Session, error) {
	sess, ok := s.sessions[sessionID]
	if !ok || sess.TenantID != tenantID {
		return nil, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	return sess, nil
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
	for _, sess := range s.sessions {
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
	sess, err := s.session(tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	sess.Close(at)
	if s.active[sess.Key()] == sess.ID {
		delete(s.active, sess.Key())
	}
	return sess.Clone(), nil
}

// DeleteSession implements ports.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.session(tenantID, sessionID)
	if err != nil {
		return err
	}
	if s.active[sess.Key()] == sess.ID {
		delete(s.active, sess.Key())
	}
	for _, t := range s.turns[sessionID] {
		delete(s.turnByID, t.ID)
	}
	delete(s.turns, sessionID)
	delete(s.sessions, sessionID)
	return nil
}
