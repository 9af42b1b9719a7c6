package observe

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"focal/domain"
	"focal/ports"
)

// storeCall runs one store operation inside a span and records its latency
// under op and its outcome.
func (m *Metrics) storeCall(ctx context.Context, op string, call func(context.Context) error) error {
	if !m.tracing {
		start := startWatch()
		err := call(ctx)
		m.storeDurationOf.get(op, outcomeOf(err), "").Observe(start.seconds())
		return err
	}
	return m.storeCallFrom(ctx, op, 0, call) // timed from after the span starts
}

// storeCallFrom is storeCall timed from start, a stopwatch the caller has
// just started. Traced, the call is timed from after its span starts, as
// storeCall times it.
func (m *Metrics) storeCallFrom(ctx context.Context, op string, start stopwatch, call func(context.Context) error) error {
	if !m.tracing {
		err := call(ctx)
		m.storeDurationOf.get(op, outcomeOf(err), "").Observe(start.seconds())
		return err
	}
	ctx, span := m.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrOperation.String(op)))
	start = startWatch()
	err := call(ctx)
	outcome := outcomeOf(err)
	m.storeDurationOf.get(op, outcome, "").Observe(start.seconds())
	finishSpan(span, err, outcome)
	return err
}

// PolicyStore wraps next so every call is timed and traced.
func (m *Metrics) PolicyStore(next ports.PolicyStore) ports.PolicyStore {
	return &policyStore{next: next, m: m}
}

type policyStore struct {
	next ports.PolicyStore
	m    *Metrics
}

func (s *policyStore) GetPolicy(ctx context.Context, tenantID, agentID string) (p *domain.Policy, err error) {
	err = s.m.storeCall(ctx, "policy.get", func(ctx context.Context) (err error) {
		p, err = s.next.GetPolicy(ctx, tenantID, agentID)
		return err
	})
	return p, err
}

func (s *policyStore) AgentVersion(ctx context.Context, tenantID, agentID string) (v int64, err error) {
	err = s.m.storeCall(ctx, "policy.version", func(ctx context.Context) (err error) {
		v, err = s.next.AgentVersion(ctx, tenantID, agentID)
		return err
	})
	return v, err
}

func (s *policyStore) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	return s.m.storeCall(ctx, "policy.save", func(ctx context.Context) error {
		return s.next.SavePolicy(ctx, tenantID, p)
	})
}

func (s *policyStore) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (out ports.Page[domain.Agent], err error) {
	err = s.m.storeCall(ctx, "policy.list", func(ctx context.Context) (err error) {
		out, err = s.next.ListAgents(ctx, tenantID, page)
		return err
	})
	return out, err
}

func (s *policyStore) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	return s.m.storeCall(ctx, "policy.delete", func(ctx context.Context) error {
		return s.next.DeleteAgent(ctx, tenantID, agentID)
	})
}

// SessionStore wraps next so every call is timed and traced.
func (m *Metrics) SessionStore(next ports.SessionStore) ports.SessionStore {
	return &sessionStore{next: next, m: m}
}

type sessionStore struct {
	next ports.SessionStore
	m    *Metrics
}

func (s *sessionStore) GetSession(ctx context.Context, tenantID, sessionID string) (out *domain.Session, err error) {
	err = s.m.storeCall(ctx, "session.get", func(ctx context.Context) (err error) {
		out, err = s.next.GetSession(ctx, tenantID, sessionID)
		return err
	})
	return out, err
}

func (s *sessionStore) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (out ports.Page[domain.Session], err error) {
	err = s.m.storeCall(ctx, "session.list", func(ctx context.Context) (err error) {
		out, err = s.next.ListSessions(ctx, tenantID, q)
		return err
	})
	return out, err
}

func (s *sessionStore) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (out *domain.Session, err error) {
	err = s.m.storeCall(ctx, "session.close", func(ctx context.Context) (err error) {
		out, err = s.next.CloseSession(ctx, tenantID, sessionID, at)
		return err
	})
	return out, err
}

func (s *sessionStore) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	return s.m.storeCall(ctx, "session.delete", func(ctx context.Context) error {
		return s.next.DeleteSession(ctx, tenantID, sessionID)
	})
}

// SessionLocker wraps next so every lock and every release of the leases
// it grants is timed and traced.
func (m *Metrics) SessionLocker(next ports.SessionLocker) ports.SessionLocker {
	return &sessionLocker{next: next, m: m}
}

type sessionLocker struct {
	next ports.SessionLocker
	m    *Metrics
}

func (s *sessionLocker) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	var lease ports.SessionLease
	err := s.m.storeCall(ctx, "lease.acquire", func(ctx context.Context) (err error) {
		lease, err = s.next.LockSession(ctx, req)
		return err
	})
	if err != nil || lease == nil {
		return lease, err
	}
	return &sessionLease{next: lease, m: s.m}, nil
}

type sessionLease struct {
	next ports.SessionLease
	m    *Metrics
}

func (l *sessionLease) Token() ports.LeaseToken { return l.next.Token() }

func (l *sessionLease) Session() *domain.Session { return l.next.Session() }

func (l *sessionLease) History() []domain.HistoryEntry { return l.next.History() }

func (l *sessionLease) Created() bool { return l.next.Created() }

func (l *sessionLease) Release(ctx context.Context) error {
	return l.m.storeCall(ctx, "lease.release", l.next.Release)
}

func (l *sessionLease) Renew(ctx context.Context) error {
	return l.m.storeCall(ctx, "lease.renew", l.next.Renew)
}

// IdempotencyStore wraps next so every call is timed and traced.
func (m *Metrics) IdempotencyStore(next ports.IdempotencyStore) ports.IdempotencyStore {
	return &idempotencyStore{next: next, m: m}
}

type idempotencyStore struct {
	next ports.IdempotencyStore
	m    *Metrics
}

func (s *idempotencyStore) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (cur *ports.IdempotencyRecord, claimed bool, err error) {
	err = s.m.storeCall(ctx, "idempotency.claim", func(ctx context.Context) (err error) {
		cur, claimed, err = s.next.ClaimIdempotencyKey(ctx, rec)
		return err
	})
	return cur, claimed, err
}

func (s *idempotencyStore) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error {
	return s.m.storeCall(ctx, "idempotency.complete", func(ctx context.Context) error {
		return s.next.CompleteIdempotencyKey(ctx, tenantID, key, owner, status, header, body, expiresAt)
	})
}

func (s *idempotencyStore) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	return s.m.storeCall(ctx, "idempotency.renew", func(ctx context.Context) error {
		return s.next.RenewIdempotencyClaim(ctx, tenantID, key, owner, heldUntil)
	})
}

func (s *idempotencyStore) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (cur *ports.IdempotencyRecord, claimed bool, err error) {
	err = s.m.storeCall(ctx, "idempotency.takeover", func(ctx context.Context) (err error) {
		cur, claimed, err = s.next.TakeOverIdempotencyKey(ctx, rec, from)
		return err
	})
	return cur, claimed, err
}

func (s *idempotencyStore) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	return s.m.storeCall(ctx, "idempotency.release", func(ctx context.Context) error {
		return s.next.ReleaseIdempotencyKey(ctx, tenantID, key, owner)
	})
}

func (s *idempotencyStore) GetIdempotencyKey(ctx context.Context, tenantID, key string) (rec *ports.IdempotencyRecord, err error) {
	err = s.m.storeCall(ctx, "idempotency.get", func(ctx context.Context) (err error) {
		rec, err = s.next.GetIdempotencyKey(ctx, tenantID, key)
		return err
	})
	return rec, err
}

// RateLimiter wraps next so every call is timed and traced.
func (m *Metrics) RateLimiter(next ports.RateLimiter) ports.RateLimiter {
	return &rateLimiter{next: next, m: m}
}

type rateLimiter struct {
	next ports.RateLimiter
	m    *Metrics
}

func (r *rateLimiter) TakeRate(ctx context.Context, key string, limit int, window time.Duration) (d ports.RateDecision, err error) {
	err = r.m.storeCall(ctx, "ratelimit.take", func(ctx context.Context) (err error) {
		d, err = r.next.TakeRate(ctx, key, limit, window)
		return err
	})
	return d, err
}

var (
	_ ports.PolicyStore      = (*policyStore)(nil)
	_ ports.SessionStore     = (*sessionStore)(nil)
	_ ports.SessionLocker    = (*sessionLocker)(nil)
	_ ports.SessionLease     = (*sessionLease)(nil)
	_ ports.IdempotencyStore = (*idempotencyStore)(nil)
	_ ports.RateLimiter      = (*rateLimiter)(nil)
)
