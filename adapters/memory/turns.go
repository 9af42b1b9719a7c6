package memory

import (
	"context"

	"focal/domain"
	"focal/ports"
)

// CommitTurn implements ports.TurnStore.
func (s *Store) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := s.session(turn.TenantID, turn.SessionID)
	if err != nil {
		return err
	}
	if l := s.leases[turn.SessionID]; lease.Fence != 0 && (l == nil || l.holder != lease.Fence) {
		return domain.Errorf(domain.CodeSessionBusy, "session %s: the lease of this turn was taken over", turn.SessionID)
	}
	if turn.TurnNumber != stored.TurnCount+1 {
		return domain.Errorf(domain.CodeSessionBusy, "session %s: turn %d is already committed", turn.SessionID, turn.TurnNumber)
	}
	next := turn.SessionAfter.Clone()
	// Status belongs to the session, not the turn: a close that happened
	// while the turn ran stays.
	next.Status, next.ClosedAt = stored.Status, stored.ClosedAt
	next.Version = stored.Version + 1
	rec := *turn
	rec.SessionAfter = next.Clone()
	s.sessions[turn.SessionID] = next
	s.turns[turn.SessionID] = append(s.turns[turn.SessionID], &rec)
	s.turnByID[rec.ID] = &rec
	return nil
}

// GetTurn implements ports.TurnStore. Turn records are immutable once
// committed; the copy returned shares their slices and must not be modified.
func (s *Store) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.turnByID[turnID]
	if !ok || t.TenantID != tenantID {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	c := *t
	return &c, nil
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
		page.Items = append(page.Items, *all[i])
	}
	return page, nil
}

// RecentTurns implements ports.TurnStore.
func (s *Store) RecentTurns(ctx context.Context, tenantID, sessionID string, n int) ([]domain.Turn, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.session(tenantID, sessionID); err != nil {
		return nil, err
	}
	all := s.turns[sessionID]
	from := max(0, len(all)-n)
	out := make([]domain.Turn, 0, len(all)-from)
	for _, t := range all[from:] {
		out = append(out, *t)
	}
	return out, nil
}
