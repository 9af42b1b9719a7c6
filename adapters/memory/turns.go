package memory

import (
	"context"

	"focal/domain"
	"focal/ports"
)

// CommitTurn implements ports.TurnStore. The record kept is a deep copy:
// the caller may go on changing its turn.
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
	rec := cloneTurn(turn)
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.session(turn.TenantID, turn.SessionID)
	if err != nil {
		return err
	}
	if prev, ok := s.turnByID[turn.ID]; ok && prev.SessionID == turn.SessionID && prev.TurnNumber == turn.TurnNumber {
		return nil // committed already: a retry after a lost answer
	}
	if l := s.leases[turn.SessionID]; l == nil || l.holder != lease.Fence || lease.SessionID != turn.SessionID {
		return busy("session %s: the lease of this turn was taken over", turn.SessionID)
	}
	if turn.TurnNumber != lease.TurnNumber || turn.TurnNumber != stored.TurnCount+1 {
		return busy("session %s: turn %d is already committed or out of order (the session has %d)", turn.SessionID, turn.TurnNumber, stored.TurnCount)
	}
	next := rec.SessionAfter
	// Status belongs to the session, not the turn: a close that happened
	// while the turn ran stays.
	next.Status, next.ClosedAt = stored.Status, stored.ClosedAt
	next.Version = stored.Version + 1
	rec.SessionAfter = next.Clone()
	s.sessions[turn.SessionID] = next
	s.turns[turn.SessionID] = append(s.turns[turn.SessionID], rec)
	s.turnByID[rec.ID] = rec
	return nil
}

func busy(format string, args ...any) error {
	e := domain.Errorf(domain.CodeSessionBusy, format, args...)
	e.RetryAfter = busyRetryAfter
	return e
}

// GetTurn implements ports.TurnStore; it returns a deep copy.
func (s *Store) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	t, ok := s.turnByID[turnID]
	s.mu.Unlock()
	if !ok || t.TenantID != tenantID {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	// Stored records are never modified: copying outside the lock is safe.
	return cloneTurn(t), nil
}

// ListTurns implements ports.TurnStore.
func (s *Store) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[domain.Turn]{}, unavailable(err)
	}
	after, hasCursor, err := parseNumberCursor(q.Page.Cursor)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.session(tenantID, sessionID); err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	all := s.turns[sessionID]
	limit := ports.PageLimit(q.Page.Limit)
	page := ports.Page[domain.Turn]{Items: make([]domain.Turn, 0, min(limit, len(all)))}
	// Turn n sits at index n-1; walk from the cursor in the asked order.
	i, step := 0, 1
	if q.Order == ports.OrderDesc {
		i, step = len(all)-1, -1
	}
	if hasCursor {
		i = after - 1 + step
	}
	for ; i >= 0 && i < len(all); i += step {
		if len(page.Items) == limit {
			page.NextCursor = numberCursor(page.Items[limit-1].TurnNumber)
			break
		}
		page.Items = append(page.Items, *cloneTurn(all[i]))
	}
	return page, nil
}

// RecentTurns implements ports.TurnStore. A missing session (or another
// tenant's) has no turns: the list is empty, as from the MongoDB store.
func (s *Store) RecentTurns(ctx context.Context, tenantID, sessionID string, n int) ([]domain.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	if n <= 0 {
		return []domain.Turn{}, nil
	}
	s.mu.Lock()
	var newest []*domain.Turn
	if _, err := s.session(tenantID, sessionID); err == nil {
		all := s.turns[sessionID]
		newest = all[max(0, len(all)-n):len(all):len(all)]
	}
	s.mu.Unlock()
	out := make([]domain.Turn, 0, len(newest))
	for _, t := range newest {
		out = append(out, *cloneTurn(t))
	}
	return out, nil
}
