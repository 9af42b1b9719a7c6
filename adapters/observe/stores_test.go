package observe

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"focal/domain"
	"focal/ports"
)

// fakeStore implements every store port: each call returns err and fixed
// values, and remembers that it ran with a span in its context.
type fakeStore struct {
	err     error
	calls   []string
	spanned []bool
}

var (
	testPolicy  = &domain.Policy{Agent: domain.Agent{ID: "a1", Version: 3}}
	testSession = &domain.Session{ID: "s1", TenantID: "t1"}
	testTurn    = &domain.Turn{ID: "turn1"}
	testRecord  = &ports.IdempotencyRecord{Key: "k"}
	testLease   = ports.LeaseToken{SessionID: "s1", Fence: 7}
)

func (f *fakeStore) call(ctx context.Context, name string) error {
	f.calls = append(f.calls, name)
	f.spanned = append(f.spanned, trace.SpanFromContext(ctx).SpanContext().IsValid())
	return f.err
}

func (f *fakeStore) GetPolicy(ctx context.Context, _, _ string) (*domain.Policy, error) {
	return testPolicy, f.call(ctx, "GetPolicy")
}
func (f *fakeStore) AgentVersion(ctx context.Context, _, _ string) (int64, error) {
	return 3, f.call(ctx, "AgentVersion")
}
func (f *fakeStore) SavePolicy(ctx context.Context, _ string, _ *domain.Policy) error {
	return f.call(ctx, "SavePolicy")
}
func (f *fakeStore) ListAgents(ctx context.Context, _ string, _ ports.PageRequest) (ports.Page[domain.Agent], error) {
	return ports.Page[domain.Agent]{NextCursor: "next"}, f.call(ctx, "ListAgents")
}
func (f *fakeStore) DeleteAgent(ctx context.Context, _, _ string) error {
	return f.call(ctx, "DeleteAgent")
}
func (f *fakeStore) GetSession(ctx context.Context, _, _ string) (*domain.Session, error) {
	return testSession, f.call(ctx, "GetSession")
}
func (f *fakeStore) ListSessions(ctx context.Context, _ string, _ ports.SessionQuery) (ports.Page[domain.Session], error) {
	return ports.Page[domain.Session]{NextCursor: "next"}, f.call(ctx, "ListSessions")
}
func (f *fakeStore) CloseSession(ctx context.Context, _, _ string, _ time.Time) (*domain.Session, error) {
	return testSession, f.call(ctx, "CloseSession")
}
func (f *fakeStore) DeleteSession(ctx context.Context, _, _ string) error {
	return f.call(ctx, "DeleteSession")
}
func (f *fakeStore) CommitTurn(ctx context.Context, _ ports.LeaseToken, _ *domain.Turn) error {
	return f.call(ctx, "CommitTurn")
}
func (f *fakeStore) GetTurn(ctx context.Context, _, _ string) (*domain.Turn, error) {
	return testTurn, f.call(ctx, "GetTurn")
}
func (f *fakeStore) ListTurns(ctx context.Context, _, _ string, _ ports.TurnQuery) (ports.Page[domain.Turn], error) {
	return ports.Page[domain.Turn]{NextCursor: "next"}, f.call(ctx, "ListTurns")
}
func (f *fakeStore) RecentHistory(ctx context.Context, _, _ string, _ int) ([]domain.HistoryEntry, error) {
	return []domain.HistoryEntry{testTurn.History()}, f.call(ctx, "RecentHistory")
}
func (f *fakeStore) LockSession(ctx context.Context, _ ports.LockRequest) (ports.SessionLease, error) {
	if err := f.call(ctx, "LockSession"); err != nil {
		return nil, err
	}
	return fakeLease{f}, nil
}
func (f *fakeStore) ClaimIdempotencyKey(ctx context.Context, _ ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	return testRecord, true, f.call(ctx, "ClaimIdempotencyKey")
}
func (f *fakeStore) CompleteIdempotencyKey(ctx context.Context, _, _, _ string, _ int, _ map[string]string, _ []byte, _ time.Time) error {
	return f.call(ctx, "CompleteIdempotencyKey")
}
func (f *fakeStore) RenewIdempotencyClaim(ctx context.Context, _, _, _ string, _ time.Time) error {
	return f.call(ctx, "RenewIdempotencyClaim")
}
func (f *fakeStore) TakeOverIdempotencyKey(ctx context.Context, _ ports.IdempotencyRecord, _ string) (*ports.IdempotencyRecord, bool, error) {
	return testRecord, true, f.call(ctx, "TakeOverIdempotencyKey")
}
func (f *fakeStore) ReleaseIdempotencyKey(ctx context.Context, _, _, _ string) error {
	return f.call(ctx, "ReleaseIdempotencyKey")
}
func (f *fakeStore) GetIdempotencyKey(ctx context.Context, _, _ string) (*ports.IdempotencyRecord, error) {
	return testRecord, f.call(ctx, "GetIdempotencyKey")
}
func (f *fakeStore) TakeRate(ctx context.Context, _ string, limit int, _ time.Duration) (ports.RateDecision, error) {
	return ports.RateDecision{Allowed: true, Limit: limit}, f.call(ctx, "TakeRate")
}

type fakeLease struct{ f *fakeStore }

func (l fakeLease) Token() ports.LeaseToken        { return testLease }
func (l fakeLease) Session() *domain.Session       { return testSession }
func (l fakeLease) History() []domain.HistoryEntry { return []domain.HistoryEntry{testTurn.History()} }
func (l fakeLease) Created() bool                  { return true }
func (l fakeLease) Release(ctx context.Context) error {
	return l.f.call(ctx, "Release")
}
func (l fakeLease) Renew(ctx context.Context) error {
	return l.f.call(ctx, "Renew")
}

// storeCase is one decorated store call and what it must pass through.
type storeCase struct {
	op    string
	check func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error
}

func storeCases() []storeCase {
	eq := func(t *testing.T, want, got any) { t.Helper(); assert.Equal(t, want, got) }
	return []storeCase{
		{"policy.get", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			p, err := m.PolicyStore(f).GetPolicy(ctx, "t", "a")
			eq(t, testPolicy, p)
			return err
		}},
		{"policy.version", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			v, err := m.PolicyStore(f).AgentVersion(ctx, "t", "a")
			eq(t, int64(3), v)
			return err
		}},
		{"policy.save", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.PolicyStore(f).SavePolicy(ctx, "t", testPolicy)
		}},
		{"policy.list", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			p, err := m.PolicyStore(f).ListAgents(ctx, "t", ports.PageRequest{})
			eq(t, "next", p.NextCursor)
			return err
		}},
		{"policy.delete", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.PolicyStore(f).DeleteAgent(ctx, "t", "a")
		}},
		{"session.get", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			s, err := m.SessionStore(f).GetSession(ctx, "t", "s")
			eq(t, testSession, s)
			return err
		}},
		{"session.list", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			p, err := m.SessionStore(f).ListSessions(ctx, "t", ports.SessionQuery{})
			eq(t, "next", p.NextCursor)
			return err
		}},
		{"session.close", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			s, err := m.SessionStore(f).CloseSession(ctx, "t", "s", time.Now())
			eq(t, testSession, s)
			return err
		}},
		{"session.delete", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.SessionStore(f).DeleteSession(ctx, "t", "s")
		}},
		{"turn.commit", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.TurnStore(f).CommitTurn(ctx, testLease, &domain.Turn{Status: domain.TurnCompleted})
		}},
		{"turn.get", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			tn, err := m.TurnStore(f).GetTurn(ctx, "t", "x")
			eq(t, testTurn, tn)
			return err
		}},
		{"turn.list", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			p, err := m.TurnStore(f).ListTurns(ctx, "t", "s", ports.TurnQuery{})
			eq(t, "next", p.NextCursor)
			return err
		}},
		{"turn.recent", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			ts, err := m.TurnStore(f).RecentHistory(ctx, "t", "s", 5)
			eq(t, []domain.HistoryEntry{testTurn.History()}, ts)
			return err
		}},
		{"lease.acquire", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			l, err := m.SessionLocker(f).LockSession(ctx, ports.LockRequest{TenantID: "t", SessionID: "s", Wait: time.Second, TTL: time.Minute})
			if err == nil {
				eq(t, testLease, l.Token())
				eq(t, testSession, l.Session())
				eq(t, []domain.HistoryEntry{testTurn.History()}, l.History())
				eq(t, true, l.Created())
			} else {
				eq(t, nil, l)
			}
			return err
		}},
		{"idempotency.claim", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			r, claimed, err := m.IdempotencyStore(f).ClaimIdempotencyKey(ctx, *testRecord)
			eq(t, testRecord, r)
			eq(t, true, claimed)
			return err
		}},
		{"idempotency.renew", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.IdempotencyStore(f).RenewIdempotencyClaim(ctx, "t", "k", "o", time.Now())
		}},
		{"idempotency.takeover", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			r, claimed, err := m.IdempotencyStore(f).TakeOverIdempotencyKey(ctx, *testRecord, "o")
			eq(t, testRecord, r)
			eq(t, true, claimed)
			return err
		}},
		{"idempotency.complete", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.IdempotencyStore(f).CompleteIdempotencyKey(ctx, "t", "k", "o", 200, nil, nil, time.Now())
		}},
		{"idempotency.release", func(_ *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			return m.IdempotencyStore(f).ReleaseIdempotencyKey(ctx, "t", "k", "o")
		}},
		{"idempotency.get", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			r, err := m.IdempotencyStore(f).GetIdempotencyKey(ctx, "t", "k")
			eq(t, testRecord, r)
			return err
		}},
		{"ratelimit.take", func(t *testing.T, m *Metrics, f *fakeStore, ctx context.Context) error {
			d, err := m.RateLimiter(f).TakeRate(ctx, "k", 9, time.Minute)
			eq(t, ports.RateDecision{Allowed: true, Limit: 9}, d)
			return err
		}},
	}
}

// Every store call is timed under its operation and outcome, traced as a
// span, and passes results and errors through unchanged.
func TestStoreDecoratorsTimeTraceAndPassThrough(t *testing.T) {
	unavailable := domain.Errorf(domain.CodeStoreUnavailable, "backend down")
	outcomes := []struct {
		err     error
		outcome string
		failure bool
	}{
		{nil, "ok", false},
		{unavailable, "STORE_UNAVAILABLE", true},
		{fmt.Errorf("load: %w", domain.Errorf(domain.CodeSessionNotFound, "no such session")), "SESSION_NOT_FOUND", false},
		{context.Canceled, "canceled", false},
		{errors.New("bare"), "INTERNAL_ERROR", true},
	}
	for _, sc := range storeCases() {
		for _, oc := range outcomes {
			t.Run(sc.op+"/"+oc.outcome, func(t *testing.T) {
				m, rec := newObserved(t)
				f := &fakeStore{err: oc.err}
				err := sc.check(t, m, f, t.Context())
				require.Equal(t, oc.err, err, "error passes through unchanged")
				require.Len(t, f.calls, 1)
				assert.True(t, f.spanned[0], "the store sees the span in its context")
				assert.EqualValues(t, 1, observations(t, m, "focal_store_operation_duration_seconds",
					"operation", sc.op, "outcome", oc.outcome))
				span := spanNamed(t, rec, sc.op)
				assert.Equal(t, trace.SpanKindClient, span.SpanKind())
				assert.Equal(t, sc.op, attr(span, "focal.store.operation"))
				if oc.err == nil {
					assert.Equal(t, "", attr(span, "focal.error_code"))
				} else {
					assert.Equal(t, oc.outcome, attr(span, "focal.error_code"))
				}
				wantStatus := codes.Unset
				if oc.failure {
					wantStatus = codes.Error
				}
				assert.Equal(t, wantStatus, span.Status().Code)
			})
		}
	}
}

// A lease granted through the decorator times its renewals and release too.
func TestSessionLeaseReleaseIsTimed(t *testing.T) {
	m, rec := newObserved(t)
	f := &fakeStore{}
	lease, err := m.SessionLocker(f).LockSession(t.Context(), ports.LockRequest{TenantID: "t", SessionID: "s", Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, lease.Renew(t.Context()))
	assert.EqualValues(t, 1, observations(t, m, "focal_store_operation_duration_seconds", "operation", "lease.renew", "outcome", "ok"))
	require.NoError(t, lease.Release(t.Context()))
	assert.Equal(t, []string{"LockSession", "Renew", "Release"}, f.calls)
	assert.EqualValues(t, 1, observations(t, m, "focal_store_operation_duration_seconds", "operation", "lease.release", "outcome", "ok"))
	spanNamed(t, rec, "lease.release")

	f.err = domain.Errorf(domain.CodeStoreUnavailable, "down")
	require.Equal(t, f.err, lease.Release(t.Context()))
	assert.EqualValues(t, 1, observations(t, m, "focal_store_operation_duration_seconds",
		"operation", "lease.release", "outcome", "STORE_UNAVAILABLE"))
}
