package application_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// lossyCommits commits, then reports the store unreachable: the answer got
// lost on the way back, as happens when a deadline passes mid-write.
type lossyCommits struct {
	*memory.Store
	lose bool
}

func (s *lossyCommits) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	if err := s.Store.CommitTurn(ctx, lease, t); err != nil {
		return err
	}
	if s.lose {
		return unreachable()
	}
	return nil
}

func unreachable() error {
	return domain.WrapError(domain.CodeStoreUnavailable, errors.New("i/o timeout"), "the store did not answer in time")
}

// failingCommits fails the first commits without storing anything, and
// cannot be read either, as a store does while it fails over.
type failingCommits struct {
	*memory.Store
	failures int
	attempts int
}

func (s *failingCommits) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	s.attempts++
	if s.attempts <= s.failures {
		return unreachable()
	}
	return s.Store.CommitTurn(ctx, lease, t)
}

func (s *failingCommits) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if s.attempts <= s.failures {
		return nil, unreachable()
	}
	return s.Store.GetTurn(ctx, tenantID, turnID)
}

func newUseCase(t *testing.T, turns ports.TurnStore, store *memory.Store) *application.ProcessMessage {
	t.Helper()
	clk := clock.System{}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clk})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, turns, store, engine, clk)
	require.NoError(t, err)
	return uc
}

const tenant = "550e8400-e29b-41d4-a716-446655440000"

// A commit whose answer was lost but which landed is a success: reading
// the turn back settles it.
func TestCommitWithLostAnswerIsConfirmedByReadingBack(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &lossyCommits{Store: store, lose: true}
	uc := newUseCase(t, turns, store)
	res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	stored, err := store.GetTurn(context.Background(), tenant, res.TurnID)
	require.NoError(t, err)
	assert.Equal(t, 1, stored.TurnNumber)
}

// A commit that did not land while the store failed over is sent again
// until the store answers, and lands once.
func TestCommitRetriedWhileTheStoreFailsOver(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &failingCommits{Store: store, failures: 3}
	uc := newUseCase(t, turns, store)
	res, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	assert.Equal(t, 4, turns.attempts, "three failed attempts, then the one that landed")
	page, err := store.ListTurns(context.Background(), tenant, res.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "stored once")
	assert.Equal(t, res.TurnID, page.Items[0].ID)
}

// A store that never comes back is not waited on for ever: the commit is
// retried within its budget (twice the commit timeout), then the turn
// answers STORE_UNAVAILABLE.
func TestCommitRetriesEndWithTheirBudget(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &failingCommits{Store: store, failures: math.MaxInt}
	uc := newUseCase(t, turns, store)
	_, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.Error(t, err)
	assert.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "%v", err)
	assert.Greater(t, turns.attempts, 1, "retried before giving up")
	// The backoff starts at 20ms (at least 10ms with its jitter) and is
	// capped at 500ms (at least 250ms): two commit timeouts hold at most
	// 5 backed-off attempts up to 310ms, then 7 more, and the first. (A
	// slow machine makes fewer; the time taken is not asserted, being the
	// machine's as much as the code's.)
	assert.LessOrEqual(t, turns.attempts, 13, "no more attempts than the budget holds")
}

// busyAfterOutage fails its first commit as unreachable (and cannot be
// read then), then refuses the commit for good: the session is held by
// another turn.
type busyAfterOutage struct {
	*memory.Store
	attempts int
}

func (s *busyAfterOutage) CommitTurn(context.Context, ports.LeaseToken, *domain.Turn) error {
	s.attempts++
	if s.attempts == 1 {
		return unreachable()
	}
	return domain.Errorf(domain.CodeSessionBusy, "the session's lease was taken over")
}

func (s *busyAfterOutage) GetTurn(context.Context, string, string) (*domain.Turn, error) {
	return nil, unreachable()
}

// A commit retried while the store was unreachable stops at the store's
// first definite refusal: that answer is the turn's, and the commit is not
// sent again.
func TestCommitRetriesStopAtADefiniteRefusal(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &busyAfterOutage{Store: store}
	uc := newUseCase(t, turns, store)
	_, err := uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.Error(t, err)
	assert.True(t, domain.IsCode(err, domain.CodeSessionBusy), "%v", err)
	assert.Equal(t, 2, turns.attempts, "the unreachable attempt, then the refused one")
}

// A message for one agent that names another agent's session of the same
// tenant is refused as if the session did not exist: nothing is added to
// that session, and its lease is let go, so its own agent's next turn
// proceeds.
func TestSessionOfAnotherAgentIsNotFound(t *testing.T) {
	ctx := context.Background()
	store := memory.New(clock.System{})
	uc := newUseCase(t, store, store)
	const agentA, agentB = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
	require.NoError(t, store.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agentB, Name: "b", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hi from b."}}}))
	first, err := uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentA, Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)

	_, err = uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentB, SessionID: first.SessionID,
		Channel: "web", UserChannelID: "u", Message: "hi b"})
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
	page, err := store.ListTurns(ctx, tenant, first.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "no turn added to the other agent's session")

	next, err := uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentA, SessionID: first.SessionID,
		Channel: "web", UserChannelID: "u", Message: "again"})
	require.NoError(t, err, "the refused message let the lease go")
	assert.Equal(t, first.SessionID, next.SessionID)
}

// blackout commits but then neither confirms the commit nor lets the turn
// be read while dark: a store that froze at commit time.
type blackout struct {
	*memory.Store
	dark bool
}

func (s *blackout) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	if err := s.Store.CommitTurn(ctx, lease, t); err != nil || !s.dark {
		return err
	}
	return unreachable()
}

func (s *blackout) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if s.dark {
		return nil, unreachable()
	}
	return s.Store.GetTurn(ctx, tenantID, turnID)
}

// A commit that neither the write nor the read-back confirms is not
// reported failed: the error says the outcome is unknown and names the
// turn. A retry with the request's key once the store is back answers
// with that turn, and the session holds the message once.
func TestUnconfirmedCommitIsUnknownAndTheKeyedRetryAnswersWithTheTurn(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &blackout{Store: store, dark: true}
	uc := newUseCase(t, turns, store)
	keys := application.NewIdempotency(application.IdempotencyConfig{TTL: time.Hour, Wait: time.Second, Hold: time.Minute}, store, turns, clock.System{})
	cmd := application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Channel: "web", UserChannelID: "u", Message: "hi"}
	req := application.KeyedRequest{TenantID: tenant, Key: "k", Fingerprint: "chat hi"}
	var runErr error
	var sessionID string
	run := func(ctx context.Context) application.Reply {
		res, err := uc.Chat(ctx, cmd)
		if runErr = err; err != nil {
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			return application.Reply{Status: 503, Code: de.Code, TurnID: de.TurnID, Unknown: domain.IsUnknownOutcome(err)}
		}
		sessionID = res.SessionID
		return application.Reply{Status: 200, TurnID: res.TurnID}
	}
	a, err := keys.Do(t.Context(), req, run)
	require.NoError(t, err)
	require.True(t, a.Ran)
	require.True(t, domain.IsUnknownOutcome(runErr), "got %v", runErr)
	require.True(t, domain.IsCode(runErr, domain.CodeStoreUnavailable), "a retryable 503")
	var de *domain.Error
	require.ErrorAs(t, runErr, &de)
	require.NotEmpty(t, de.TurnID)

	turns.dark = false
	a, err = keys.Do(t.Context(), req, func(context.Context) application.Reply {
		t.Error("the retry ran the message again")
		return application.Reply{Status: 500}
	})
	require.NoError(t, err)
	require.NotNil(t, a.Turn, "the retry answers with the committed turn")
	assert.Equal(t, de.TurnID, a.Turn.ID)
	page, err := store.ListTurns(context.Background(), tenant, a.Turn.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Items, 1, "the message is recorded once")
	assert.Empty(t, sessionID)
}

// A run whose claim was taken over (it stopped renewing, then went on) and
// whose turn comes second answers with the turn the taker committed: one
// keyed request, one completed turn.
func TestLateRunAnswersWithTheTurnItsTakerCommitted(t *testing.T) {
	fake := clock.NewFake()
	store := memory.New(fake)
	uc := newUseCase(t, store, store)
	cfg := application.IdempotencyConfig{TTL: time.Hour, Wait: time.Second, Hold: time.Minute}
	// The first run's renewals never fire: it stopped renewing.
	stalled := application.NewIdempotency(cfg, store, store, stalledClock{fake})
	keys := application.NewIdempotency(cfg, store, store, fake)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Channel: "web", UserChannelID: "u", Message: "hi"}
	req := application.KeyedRequest{TenantID: tenant, Key: "k", Fingerprint: "chat hi"}
	var taker, late *application.ChatResult
	_, err := stalled.Do(t.Context(), req, func(ctx context.Context) application.Reply {
		fake.Advance(2 * time.Minute) // the first run's hold lapses
		a, err := keys.Do(t.Context(), req, func(ctx context.Context) application.Reply {
			var err error
			taker, err = uc.Chat(ctx, cmd)
			require.NoError(t, err)
			return application.Reply{Status: 200, TurnID: taker.TurnID}
		})
		require.NoError(t, err)
		require.True(t, a.Ran, "the retry took the lapsed claim over")
		late, err = uc.Chat(ctx, cmd)
		require.NoError(t, err)
		return application.Reply{Status: 200, TurnID: late.TurnID}
	})
	require.NoError(t, err)
	assert.Equal(t, taker.TurnID, late.TurnID, "the late run answers with the taker's turn")
	page, err := store.ListTurns(context.Background(), tenant, taker.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Items, 1, "the message is recorded once")
}

// stalledClock tells the fake clock's time, and its waits never end: a
// holder on it never renews.
type stalledClock struct{ clock.Fake }

func (stalledClock) After(time.Duration) <-chan time.Time { return nil }

// AfterFunc never calls f.
func (stalledClock) AfterFunc(time.Duration, func()) ports.Timer { return stoppedTimer{} }

// stoppedTimer is a timer that never fires.
type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

func (stoppedTimer) Reset(time.Duration) bool { return false }

// failingEngine releases its deltas, then fails the turn.
type failingEngine struct{ deltas []string }

func (e failingEngine) RunTurn(_ context.Context, _ ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	for _, d := range e.deltas {
		if err := sink(d); err != nil {
			return nil, err
		}
	}
	return nil, domain.Errorf(domain.CodeLLMError, "the model broke off")
}

// A turn that fails after releasing text is recorded failed, with the
// text the client was sent, whole.
func TestFailedTurnRecordsWhatWasReleased(t *testing.T) {
	store := memory.New(clock.System{})
	clk := clock.System{}
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store,
		failingEngine{deltas: []string{"Your order ", "ships ", "tomorrow"}}, clk)
	require.NoError(t, err)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: p.Agent.ID, Channel: "web", UserChannelID: "u", Message: "hi"}
	prepared, err := uc.Prepare(context.Background(), cmd)
	require.NoError(t, err)
	var sent []string
	_, err = prepared.Run(context.Background(), func(d string) error { sent = append(sent, d); return nil })
	require.Equal(t, domain.CodeLLMError, domain.ErrorCodeOf(err))
	require.Equal(t, []string{"Your order ", "ships ", "tomorrow"}, sent)
	stored, err := store.GetTurn(context.Background(), tenant, prepared.TurnID())
	require.NoError(t, err)
	assert.Equal(t, domain.TurnFailed, stored.Status)
	assert.Equal(t, "Your order ships tomorrow", stored.Response)
	assert.Equal(t, []string{"Your order ", "ships ", "tomorrow"}, stored.Deltas)
}

// A policy cache on a clock of its own goes by that clock, not by the
// turn's start on the use case's: the turn's start serves it only when
// the two are one clock.
func TestPolicyCacheOnItsOwnClockGoesByIt(t *testing.T) {
	ctx := context.Background()
	store := memory.New(clock.System{})
	agent := domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1}
	policyOf := func(version int64, text string) *domain.Policy {
		a := agent
		a.Version = version
		return &domain.Policy{Agent: a, Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: text}}}
	}
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(1, "Hello.")))
	// The cache's clock stands months before the use case's.
	cacheClock := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	cache, err := application.NewPolicyCache(store, cacheClock, time.Second)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clock.System{}})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store, engine, clock.System{})
	require.NoError(t, err)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: agent.ID, Channel: "web", UserChannelID: "u", Message: "hi"}

	res, err := uc.Chat(ctx, cmd)
	require.NoError(t, err)
	assert.Equal(t, "Hello.", res.Response)
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(2, "Welcome.")))
	// By the cache's clock its entry is now stale; by the use case's it
	// would still be fresh.
	cacheClock.set(cacheClock.Now().Add(2 * time.Second))
	res, err = uc.Chat(ctx, cmd)
	require.NoError(t, err)
	assert.Equal(t, "Welcome.", res.Response)
}

// A turn that stays at a scenario's step answers with that step, which
// its explanation's move recorded in the turn's space: the result keeps
// it after the space went back to the pool and served other turns.
func TestResultKeepsTheStepStayedAtAfterTheSpaceIsReclaimed(t *testing.T) {
	ctx := context.Background()
	store := memory.New(clock.System{})
	uc := newUseCase(t, store, store)
	const agent = "6ba7b812-9dad-11d1-80b4-00c04fd430c8"
	require.NoError(t, store.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "r", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}},
		Scenarios: []domain.Scenario{{ID: "returns", EntryCondition: "return an order", EntryStepID: "ask", Enabled: true,
			EntryExamples: []string{"I want to return my order", "how do I send my parcel back"},
			Steps:         []domain.Step{{ID: "ask", Instructions: "Ask for the order number."}}}}}))
	say := func(user, msg string) *application.ChatResult {
		res, err := uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agent, Channel: "web", UserChannelID: user, Message: msg})
		require.NoError(t, err)
		return res
	}
	require.NotNil(t, say("u", "I want to return my order").Scenario, "the flow started")
	stayed := say("u", "what colour is the sky")
	want := domain.ScenarioRef{ID: "returns", Step: "ask"}
	require.NotNil(t, stayed.Scenario)
	require.Equal(t, want, *stayed.Scenario, "the turn stayed at the step")
	for i := range 5 {
		say(fmt.Sprintf("other-%d", i), "I want to return my order")
		say(fmt.Sprintf("other-%d", i), "and the weather?")
	}
	assert.Equal(t, want, *stayed.Scenario, "the result's step is its own")
}
