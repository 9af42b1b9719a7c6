package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Lease timings: short enough for a fast suite, long enough that a loaded
// machine running -race does not expire a lease by accident.
const (
	longTTL   = 10 * time.Second       // a lease that must not expire during a case
	shortTTL  = 300 * time.Millisecond // a lease that is meant to expire
	longWait  = 5 * time.Second        // a wait that must not time out
	shortWait = 300 * time.Millisecond // a wait that is meant to time out
	// handoff bounds how long a waiter may take to notice a released
	// lease (polling backends need a little).
	handoff = 2 * time.Second
)

// fixture is one test case's stores plus builders for test data.
type fixture struct {
	Stores
	t   *testing.T
	ctx context.Context
}

func newFixture(t *testing.T, s Stores) *fixture {
	return &fixture{Stores: s, t: t, ctx: t.Context()}
}

func newID() string { return uuid.NewString() }

// key returns a channel key of a fresh user of agent in tenant.
func key(tenantID, agentID string) domain.ChannelKey {
	return domain.ChannelKey{TenantID: tenantID, AgentID: agentID, Channel: "webchat", UserChannelID: "user-" + newID()}
}

// newSession creates the active session of a fresh channel key.
func (f *fixture) newSession(tenantID, agentID string) *domain.Session {
	f.t.Helper()
	return f.sessionAt(key(tenantID, agentID), time.Now())
}

// sessionAt creates the active session of k, created at createdAt.
func (f *fixture) sessionAt(k domain.ChannelKey, createdAt time.Time) *domain.Session {
	f.t.Helper()
	l, err := f.Locker.LockSession(f.ctx, byKey(domain.NewSession(newID(), k, createdAt)))
	require.NoError(f.t, err)
	require.True(f.t, l.Created(), "a fresh channel key must create its session")
	f.release(l)
	return l.Session()
}

// byKey asks for the lease of the active session of candidate's key.
func byKey(candidate *domain.Session) ports.LockRequest {
	return ports.LockRequest{TenantID: candidate.TenantID, Candidate: candidate, Wait: longWait, TTL: longTTL}
}

// byID asks for the lease of a session by id.
func byID(tenantID, sessionID string, wait, ttl time.Duration) ports.LockRequest {
	return ports.LockRequest{TenantID: tenantID, SessionID: sessionID, Wait: wait, TTL: ttl}
}

func (f *fixture) get(tenantID, sessionID string) *domain.Session {
	f.t.Helper()
	s, err := f.Sessions.GetSession(f.ctx, tenantID, sessionID)
	require.NoError(f.t, err)
	return s
}

func (f *fixture) lock(tenantID, sessionID string, ttl time.Duration) ports.SessionLease {
	f.t.Helper()
	l, err := f.Locker.LockSession(f.ctx, byID(tenantID, sessionID, longWait, ttl))
	require.NoError(f.t, err)
	require.NotNil(f.t, l)
	return l
}

func (f *fixture) release(l ports.SessionLease) {
	f.t.Helper()
	require.NoError(f.t, l.Release(f.ctx))
}

// nextTurn builds the turn that follows s's committed state, changing
// every part of the session state a turn can change.
func nextTurn(s *domain.Session, message string) *domain.Turn {
	n := s.TurnCount + 1
	now := time.Now()
	after := s.Clone()
	after.RecordFire("rule-greet", n)
	if n%2 == 0 {
		after.RecordFire("rule-even", n)
	}
	after.SetVariable("last_message", message)
	after.SetVariable("turns_seen", float64(n))
	after.SetVariable("profile", map[string]any{"tier": "gold", "tags": []any{"a", "b"}})
	if after.Scenario != nil && len(after.FlowStack) == 0 {
		after.SuspendScenario() // a flow waiting under the active one is state too
	}
	after.EnterStep("returns", fmt.Sprintf("step-%d", n), n)
	after.NoteGiven("returns", fmt.Sprintf("given-%d", n%3), n) // what the flow's run was given
	after.AdvanceTurn(n, now)
	return &domain.Turn{
		ID: newID(), TenantID: s.TenantID, AgentID: s.AgentID, AgentVersion: 1, SessionID: s.ID,
		TurnNumber: n, RequestID: "req-" + newID(), Message: message, Response: "reply to " + message,
		Status: domain.TurnCompleted,
		Explanation: domain.Explanation{
			Retrieval:  domain.Retrieval{Mode: domain.RetrievalLexical},
			Candidates: []domain.RuleCandidate{{RuleID: "rule-greet", Score: 0.9, Lexical: 0.9, Priority: 10, Matched: true}},
			Matched:    []domain.RuleMatch{{RuleID: "rule-greet", Score: 0.9, Reason: "lexical match"}},
			Scenario:   domain.ScenarioDecision{Action: domain.ScenarioAdvance, After: &domain.ScenarioRef{ID: "returns", Step: fmt.Sprintf("step-%d", n)}},
			ToolCalls:  []domain.ToolCall{},
			Generation: domain.Generation{Source: domain.SourceModel, ModelCalls: 1},
		},
		Model:     "fake-model",
		Usage:     domain.TokenUsage{Prompt: 100 + n, Completion: 20},
		Timings:   []domain.StepTiming{{Step: "retrieval", DurationMS: 1.5}},
		Metadata:  map[string]any{"order": "A-17", "n": float64(n)},
		Deltas:    []string{"reply ", "to ", message},
		LatencyMS: 42,
		CreatedAt: now,
		// SessionAfter as the application builds it.
		SessionAfter: after,
	}
}

// commitNext commits the turn after the session's current state under l.
func (f *fixture) commitNext(l ports.SessionLease, tenantID, sessionID, message string) *domain.Turn {
	f.t.Helper()
	turn := nextTurn(f.get(tenantID, sessionID), message)
	require.NoError(f.t, f.Turns.CommitTurn(f.ctx, l.Token(), turn))
	return turn
}

// turns commits n turns to the session, one lease each.
func (f *fixture) turns(tenantID, sessionID string, n int) []*domain.Turn {
	f.t.Helper()
	out := make([]*domain.Turn, 0, n)
	for i := range n {
		l := f.lock(tenantID, sessionID, longTTL)
		out = append(out, f.commitNext(l, tenantID, sessionID, fmt.Sprintf("message %d", i+1)))
		f.release(l)
	}
	return out
}

// requireCode fails unless err carries code.
func requireCode(t *testing.T, err error, code domain.ErrorCode, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Truef(t, domain.IsCode(err, code), "want %s, got %v (%s)", code, err, fmt.Sprint(msgAndArgs...))
}

// requireSameAsMissing checks that an operation on another tenant's record
// fails or succeeds exactly as it does on a record that does not exist.
func requireSameAsMissing(t *testing.T, other, missing error, what string) {
	t.Helper()
	require.Equalf(t, domain.ErrorCodeOf(missing), domain.ErrorCodeOf(other),
		"%s: another tenant's record must behave like a missing one (missing: %v; other tenant's: %v)", what, missing, other)
}

// requireJSONEqual compares values as the API would show them, so stores
// may keep numbers as any numeric type.
func requireJSONEqual(t *testing.T, want, got any, msgAndArgs ...any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g), msgAndArgs...)
}

// requireSameTime compares instants, allowing stores that keep
// milliseconds.
func requireSameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	assert.WithinDurationf(t, want, got, time.Millisecond, "%s", what)
}

// isCancellation accepts the errors a store may return when its caller's
// context ends: the context's own error or STORE_UNAVAILABLE.
func isCancellation(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		domain.IsCode(err, domain.CodeStoreUnavailable)
}

// turnNumbers lists the numbers of turns, in order.
func turnNumbers(turns []domain.Turn) []int {
	out := make([]int, len(turns))
	for i, t := range turns {
		out[i] = t.TurnNumber
	}
	return out
}

// result is one concurrent call's outcome.
type result[T any] struct {
	value T
	err   error
}

// race runs fn n times concurrently, all released at once, and returns
// each outcome.
func race[T any](n int, fn func(i int) (T, error)) []result[T] {
	out := make([]result[T], n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			v, err := fn(i)
			out[i] = result[T]{v, err}
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return out
}
