package application_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
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
// cannot be read either, as a store does while it fails over. Past
// maxCommitAttempts it refuses for good, so retries that do not wait for
// the clock (which only moves when a test advances it) end, refused.
type failingCommits struct {
	*memory.Store
	failures int
	attempts int
}

// maxCommitAttempts is far more attempts than a commit's budget holds.
const maxCommitAttempts = 1000

// refusedPastMax is the refusal of commit attempt n past maxCommitAttempts.
func refusedPastMax(n int) error {
	if n <= maxCommitAttempts {
		return nil
	}
	return domain.Errorf(domain.CodeInternal, "%d commit attempts: the retries do not back off", n)
}

func (s *failingCommits) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	s.attempts++
	if err := refusedPastMax(s.attempts); err != nil {
		return err
	}
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
	return newUseCaseOn(t, turns, store, clock.System{})
}

// newUseCaseOn is newUseCase with the use case, its policy cache and its
// engine on clk.
func newUseCaseOn(t *testing.T, turns ports.TurnStore, store *memory.Store, clk ports.Clock) *application.ProcessMessage {
	t.Helper()
	p := &domain.Policy{Agent: domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	require.NoError(t, store.SavePolicy(context.Background(), tenant, p))
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clk})
	require.NoError(t, err)
	uc, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: commitTimeout}, cache, store, turns, store, engine, clk)
	require.NoError(t, err)
	return uc
}

// commitTimeout is the use cases' CommitTimeout: their commit retries have
// twice that (commitBudget) from the commit's start.
const commitTimeout = time.Second

const commitBudget = 2 * commitTimeout

// retryClock is a fake clock that reports each wait (After) on waits once
// the clock holds it: in the use case, only the commit's backoff waits on
// After, so a test learns that the retry loop is waiting, and for how long.
type retryClock struct {
	clock.Fake
	waits chan time.Duration
}

// newRetryClock starts a retryClock months away from the machine's
// clock, so that a deadline mistaken for one of the machine's has long
// passed.
func newRetryClock() retryClock {
	return retryClock{Fake: clock.Fake{FakeClock: clockwork.NewFakeClockAt(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))},
		waits: make(chan time.Duration)}
}

func (c retryClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.waits <- d
	return ch
}

// maxRetryWaits is more backoff waits than a commit's budget holds (the
// shortest is 10 ms, and the waits settle at 250 ms or more after the
// sixth): more means the budget does not end the retries.
const maxRetryWaits = 50

// chatThroughRetries runs cmd through uc, a use case on clk
// (driveRetries); waits are its commit's backoff waits in order.
func chatThroughRetries(t *testing.T, uc *application.ProcessMessage, clk retryClock, cmd application.ChatCommand) (
	res *application.ChatResult, waits []time.Duration, err error) {
	t.Helper()
	waits = driveRetries(t, clk, func() { res, err = uc.Chat(context.Background(), cmd) })
	return res, waits, err
}

// driveRetries calls run on a goroutine of its own and advances clk through
// each backoff wait of a commit run makes on it, as soon as the retry loop
// waits, until run returns; it returns the waits in order.
func driveRetries(t *testing.T, clk retryClock, run func()) (waits []time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run()
	}()
	for {
		select {
		case d := <-clk.waits:
			waits = append(waits, d)
			require.LessOrEqual(t, len(waits), maxRetryWaits, "the budget did not end the retries: waits %v", waits)
			clk.Advance(d)
		case <-done:
			return waits
		}
	}
}

// requireBackoff checks that waits are backoff's: exponential from 20 ms,
// doubling to at most 500 ms, each with its jitter of ±50 % (drawn to the
// nanosecond: that none moved off its interval would mean no jitter).
func requireBackoff(t *testing.T, waits []time.Duration) {
	t.Helper()
	interval := 20 * time.Millisecond
	intervals := make([]time.Duration, 0, len(waits))
	for i, d := range waits {
		assert.GreaterOrEqual(t, d, interval/2, "wait %d of %v", i, waits)
		// backoff's jitter reaches a nanosecond past +50 %.
		assert.LessOrEqual(t, d, interval*3/2+time.Nanosecond, "wait %d of %v", i, waits)
		intervals = append(intervals, interval)
		interval = min(2*interval, 500*time.Millisecond)
	}
	if len(waits) > 0 {
		assert.NotEqual(t, intervals, waits, "the waits are jittered")
	}
}

func sum(ds []time.Duration) (total time.Duration) {
	for _, d := range ds {
		total += d
	}
	return total
}

const tenant = "550e8400-e29b-41d4-a716-446655440000"

// A commit whose answer was lost but which landed is a success: reading
// the turn back settles it, at the first attempt, without a retry.
func TestCommitWithLostAnswerIsConfirmedByReadingBack(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &lossyCommits{Store: store, lose: true}
	clk := newRetryClock()
	uc := newUseCaseOn(t, turns, store, clk)
	res, waits, err := chatThroughRetries(t, uc, clk, application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	assert.Empty(t, waits, "settled by the read-back, not retried")
	stored, err := store.GetTurn(context.Background(), tenant, res.TurnID)
	require.NoError(t, err)
	assert.Equal(t, 1, stored.TurnNumber)
}

// A commit that did not land while the store failed over is sent again,
// after backoff's waits, until the store answers, and lands once.
func TestCommitRetriedWhileTheStoreFailsOver(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &failingCommits{Store: store, failures: 3}
	clk := newRetryClock()
	uc := newUseCaseOn(t, turns, store, clk)
	res, waits, err := chatThroughRetries(t, uc, clk, application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.NoError(t, err)
	assert.Equal(t, 4, turns.attempts, "three failed attempts, then the one that landed")
	assert.Len(t, waits, 3, "a backoff wait before each retry")
	requireBackoff(t, waits)
	page, err := store.ListTurns(context.Background(), tenant, res.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "stored once")
	assert.Equal(t, res.TurnID, page.Items[0].ID)
}

// A store that never comes back is not waited on for ever: the commit is
// retried within its budget (twice the commit timeout from its start),
// then the turn answers STORE_UNAVAILABLE. The loop stops only when the
// next wait would end past the budget: the waits so far leave less than
// the longest wait (750 ms) of it.
func TestCommitRetriesEndWithTheirBudget(t *testing.T) {
	store := memory.New(clock.System{})
	turns := &failingCommits{Store: store, failures: math.MaxInt}
	clk := newRetryClock()
	uc := newUseCaseOn(t, turns, store, clk)
	_, waits, err := chatThroughRetries(t, uc, clk, application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.Error(t, err)
	assert.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "%v", err)
	assert.True(t, domain.IsUnknownOutcome(err), "%v", err)
	assert.Equal(t, len(waits)+1, turns.attempts, "the first attempt, then one after each wait")
	requireBackoff(t, waits)
	assert.LessOrEqual(t, sum(waits), commitBudget, "no attempt after the budget: %v", waits)
	assert.Greater(t, sum(waits), commitBudget-750*time.Millisecond, "the budget was spent: %v", waits)
}

// frozenStore neither answers a commit nor a read until the call's
// deadline passes: each call reports on calls, then returns
// STORE_UNAVAILABLE once its context ends.
type frozenStore struct {
	*memory.Store
	calls chan frozenCall
}

// frozenCall is a call's context as the call began.
type frozenCall struct {
	deadline time.Time
	err      error
}

func (s frozenStore) CommitTurn(ctx context.Context, _ ports.LeaseToken, _ *domain.Turn) error {
	return s.freeze(ctx)
}

func (s frozenStore) GetTurn(ctx context.Context, _, _ string) (*domain.Turn, error) {
	return nil, s.freeze(ctx)
}

func (s frozenStore) freeze(ctx context.Context) error {
	d, _ := ctx.Deadline()
	s.calls <- frozenCall{deadline: d, err: ctx.Err()}
	<-ctx.Done()
	return domain.WrapError(domain.CodeStoreUnavailable, ctx.Err(), "the store did not answer in time")
}

// A commit's write and read-back each end a commit timeout after they
// began, by the use case's clock, and the budget ends with the second:
// one attempt, whose outcome is unknown.
func TestCommitAttemptsEndAtTheirDeadlinesByTheUseCasesClock(t *testing.T) {
	store := memory.New(clock.System{})
	turns := frozenStore{Store: store, calls: make(chan frozenCall)}
	clk := newRetryClock()
	uc := newUseCaseOn(t, turns, store, clk)
	start := clk.Now()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = uc.Chat(context.Background(), application.ChatCommand{TenantID: tenant,
			AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Channel: "web", UserChannelID: "u", Message: "hi"})
	}()
	for i, call := range []string{"the write", "the read-back"} {
		began := <-turns.calls
		assert.Equal(t, start.Add(time.Duration(i+1)*commitTimeout), began.deadline, "%s's deadline", call)
		assert.NoError(t, began.err, "%s began before its deadline", call)
		clk.Advance(commitTimeout)
	}
	select {
	case <-done:
	case d := <-clk.waits:
		t.Fatalf("the commit waited %v to retry past its budget", d)
	}
	require.Error(t, err)
	assert.True(t, domain.IsUnknownOutcome(err), "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
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
	clk := newRetryClock()
	uc := newUseCaseOn(t, turns, store, clk)
	_, waits, err := chatThroughRetries(t, uc, clk, application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"})
	require.Error(t, err)
	assert.True(t, domain.IsCode(err, domain.CodeSessionBusy), "%v", err)
	assert.Equal(t, 2, turns.attempts, "the unreachable attempt, then the refused one")
	assert.Len(t, waits, 1, "one wait, before the refused attempt")
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

// A message that names a session of another channel identity of the same
// agent (a client that sent one customer's message with another
// customer's session id) is refused as if the session did not exist: the
// reply would have been built from, and added to, the other customer's
// conversation. Nothing is added to it, and its own user's next turn
// proceeds.
func TestSessionOfAnotherChannelIdentityIsNotFound(t *testing.T) {
	ctx := context.Background()
	store := memory.New(clock.System{})
	uc := newUseCase(t, store, store)
	const agent = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	first, err := uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agent, Channel: "web", UserChannelID: "ana", Message: "hi"})
	require.NoError(t, err)

	for _, c := range []struct{ channel, user string }{{"web", "bo"}, {"email", "ana"}} {
		_, err = uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agent, SessionID: first.SessionID,
			Channel: c.channel, UserChannelID: c.user, Message: "my order is AC-123456"})
		require.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%s/%s: %v", c.channel, c.user, err)
	}
	page, err := store.ListTurns(ctx, tenant, first.SessionID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "no turn added to the other customer's session")

	next, err := uc.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agent, SessionID: first.SessionID,
		Channel: "web", UserChannelID: "ana", Message: "again"})
	require.NoError(t, err, "the refused messages let the lease go")
	assert.Equal(t, first.SessionID, next.SessionID)
}

// blackout commits but then neither confirms the commit nor lets the turn
// be read while dark: a store that froze at commit time. Past
// maxCommitAttempts it refuses for good, as failingCommits does.
type blackout struct {
	*memory.Store
	dark     bool
	attempts int
}

func (s *blackout) CommitTurn(ctx context.Context, lease ports.LeaseToken, t *domain.Turn) error {
	s.attempts++
	if err := refusedPastMax(s.attempts); err != nil {
		return err
	}
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
	clk := newRetryClock()
	// The keys' hold and expiry go by the store's clock: the use case's.
	store := memory.New(clk.Fake)
	turns := &blackout{Store: store, dark: true}
	uc := newUseCaseOn(t, turns, store, clk)
	keys := application.NewIdempotency(application.IdempotencyConfig{TTL: time.Hour, Wait: time.Second, Hold: time.Minute}, store, turns, clk)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Channel: "web", UserChannelID: "u", Message: "hi"}
	req := application.KeyedRequest{TenantID: tenant, Key: "k", Fingerprint: "chat hi"}
	var runErr error
	var sessionID string
	run := func(ctx context.Context) application.Reply {
		res, err := uc.Chat(ctx, cmd)
		if runErr = err; err != nil {
			var de *domain.Error
			errors.As(err, &de) // checked below, on the test's goroutine
			return application.Reply{Status: 503, Code: de.Code, TurnID: de.TurnID, Unknown: domain.IsUnknownOutcome(err)}
		}
		sessionID = res.SessionID
		return application.Reply{Status: 200, TurnID: res.TurnID}
	}
	var a application.Answer
	var err error
	// The commit is retried through its budget while the store stays dark.
	waits := driveRetries(t, clk, func() { a, err = keys.Do(t.Context(), req, run) })
	require.NoError(t, err)
	require.True(t, a.Ran)
	require.NotEmpty(t, waits, "the commit was retried")
	assert.LessOrEqual(t, sum(waits), commitBudget, "within its budget: %v", waits)
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
