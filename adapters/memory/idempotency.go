package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"focal/domain"
	"focal/ports"
)

var _ ports.IdempotencyStore = (*Store)(nil)

func idemKey(tenantID, key string) string { return tenantID + "\x00" + key }

func cloneRecord(r *ports.IdempotencyRecord) *ports.IdempotencyRecord {
	c := *r
	c.Header = maps.Clone(r.Header)
	c.Body = slices.Clone(r.Body)
	return &c
}

// live returns the unexpired record for k; expired ones are dropped here,
// so memory does not grow with dead keys that are asked for again. The
// caller holds s.mu.
func (s *Store) live(k string) *ports.IdempotencyRecord {
	r, ok := s.idem[k]
	if !ok {
		return nil
	}
	if !s.clock.Now().Before(r.ExpiresAt) {
		delete(s.idem, k)
		return nil
	}
	return r
}

// ClaimIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := idemKey(rec.TenantID, rec.Key)
	if cur := s.live(k); cur != nil {
		return cloneRecord(cur), false, nil
	}
	stored := cloneRecord(&rec)
	// A claim has no response yet.
	stored.Done, stored.Status, stored.Header, stored.Body = false, 0, nil, nil
	s.idem[k] = stored
	return cloneRecord(stored), true, nil
}

// CompleteIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(idemKey(tenantID, key))
	if r == nil || r.Owner != owner || r.Done {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	r.Done, r.Status, r.Header, r.Body, r.ExpiresAt = true, status, maps.Clone(header), slices.Clone(body), expiresAt
	return nil
}

// RenewIdempotencyClaim implements ports.IdempotencyStore.
func (s *Store) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(idemKey(tenantID, key))
	if r == nil || r.Owner != owner || r.Done {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	r.HeldUntil = heldUntil
	if heldUntil.After(r.ExpiresAt) {
		r.ExpiresAt = heldUntil
	}
	return nil
}

// TakeOverIdempotencyKey implements ports.IdempotencyStore, judging the
// hold by the store's clock.
func (s *Store) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (*ports.IdempotencyRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(idemKey(rec.TenantID, rec.Key))
	switch {
	case r == nil:
		return nil, false, nil
	case r.Owner != from || r.Done || s.clock.Now().Before(r.HeldUntil):
		return cloneRecord(r), false, nil
	}
	r.Owner, r.TurnID, r.HeldUntil, r.ExpiresAt = rec.Owner, rec.TurnID, rec.HeldUntil, rec.ExpiresAt
	return cloneRecord(r), true, nil
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := idemKey(tenantID, key)
	if r := s.live(k); r != nil && r.Owner == owner && !r.Done {
		delete(s.idem, k)
	}
	return nil
}

// GetIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*ports.IdempotencyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.live(idemKey(tenantID, key)); r != nil {
		return cloneRecord(r), nil
	}
	return nil, nil
}
