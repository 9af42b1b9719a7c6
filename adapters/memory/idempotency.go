package memory

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"focal/domain"
	"focal/ports"
)

var _ ports.IdempotencyStore = (*Store)(nil)

func idemKey(tenantID, key string) string { return tenantID + "\x00" + key }

// keptRecord is an idempotency record as kept: its strings in one, whose
// start is the record's key in Store.idem (idemKey), so that a record is
// two objects for the collector, not seven, until it holds a response.
type keptRecord struct {
	text   string // idemKey, then fingerprint, owner, request and turn id
	header map[string]string
	body   []byte
	// heldUntil and expiresAt are the record's HeldUntil and ExpiresAt.
	// Pointer-free fields after them: the collector scans up to them.
	heldUntil, expiresAt time.Time
	ends                 [recordParts]uint32
	done                 bool
	status               int
}

// The parts of keptRecord.text, in order.
const (
	recordKey = iota
	recordFingerprint
	recordOwner
	recordRequest
	recordTurn
	recordParts
)

// keepRecord keeps rec's claim: no response.
func keepRecord(rec *ports.IdempotencyRecord) *keptRecord {
	r := &keptRecord{heldUntil: rec.HeldUntil, expiresAt: rec.ExpiresAt}
	r.setStrings(idemKey(rec.TenantID, rec.Key), rec.Fingerprint, rec.Owner, rec.Request, rec.TurnID)
	return r
}

func (r *keptRecord) setStrings(parts ...string) {
	var b strings.Builder
	for _, p := range parts {
		b.Grow(len(p))
	}
	for i, p := range parts {
		b.WriteString(p)
		r.ends[i] = uint32(b.Len())
	}
	r.text = b.String()
}

func (r *keptRecord) part(i int) string { return packedPart(r.text, r.ends[:], i) }

// key is the record's key in Store.idem.
func (r *keptRecord) key() string { return r.part(recordKey) }

func (r *keptRecord) owner() string { return r.part(recordOwner) }

// record returns a copy of the record that the caller owns.
func (r *keptRecord) record() *ports.IdempotencyRecord {
	tenant, key, _ := strings.Cut(r.key(), "\x00")
	return &ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: r.part(recordFingerprint), Owner: r.owner(),
		Request: r.part(recordRequest), TurnID: r.part(recordTurn), Done: r.done, Status: r.status,
		Header: maps.Clone(r.header), Body: slices.Clone(r.body), HeldUntil: r.heldUntil, ExpiresAt: r.expiresAt}
}

// live returns the unexpired record for k; expired ones are dropped here,
// so memory does not grow with dead keys that are asked for again. The
// caller holds s.mu.
func (s *Store) live(k string) *keptRecord {
	r, ok := s.idem[k]
	if !ok {
		return nil
	}
	if !s.clock.Now().Before(r.expiresAt) {
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
	if cur := s.live(idemKey(rec.TenantID, rec.Key)); cur != nil {
		return cur.record(), false, nil
	}
	stored := keepRecord(&rec) // a claim has no response yet
	s.idem[stored.key()] = stored
	return stored.record(), true, nil
}

// CompleteIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.live(idemKey(tenantID, key))
	if r == nil || r.owner() != owner || r.done {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	r.done, r.status, r.header, r.body, r.expiresAt = true, status, maps.Clone(header), slices.Clone(body), expiresAt
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
	if r == nil || r.owner() != owner || r.done {
		return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
	}
	r.heldUntil = heldUntil
	if heldUntil.After(r.expiresAt) {
		r.expiresAt = heldUntil
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
	case r.owner() != from || r.done || s.clock.Now().Before(r.heldUntil):
		return r.record(), false, nil
	}
	r.setStrings(r.key(), r.part(recordFingerprint), rec.Owner, r.part(recordRequest), rec.TurnID)
	s.idem[r.key()] = r // keyed by the new text, so that the old one goes
	r.heldUntil, r.expiresAt = rec.HeldUntil, rec.ExpiresAt
	return r.record(), true, nil
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := idemKey(tenantID, key)
	if r := s.live(k); r != nil && r.owner() == owner && !r.done {
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
		return r.record(), nil
	}
	return nil, nil
}
