package application

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

// countingKeys records which idempotency store methods were called.
type countingKeys struct {
	ports.IdempotencyStore
	mu    sync.Mutex
	calls []string
}

func (k *countingKeys) note(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, name)
}

func (k *countingKeys) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := k.calls
	k.calls = nil
	return out
}

func (k *countingKeys) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	k.note("claim")
	return k.IdempotencyStore.ClaimIdempotencyKey(ctx, rec)
}

func (k *countingKeys) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error {
	k.note("complete")
	return k.IdempotencyStore.CompleteIdempotencyKey(ctx, tenantID, key, owner, status, header, body, expiresAt)
}

func (k *countingKeys) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	k.note("release")
	return k.IdempotencyStore.ReleaseIdempotencyKey(ctx, tenantID, key, owner)
}

func (k *countingKeys) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (*ports.IdempotencyRecord, bool, error) {
	k.note("takeover")
	return k.IdempotencyStore.TakeOverIdempotencyKey(ctx, rec, from)
}

// committedTurns is a turn store that knows the turns a test committed.
type committedTurns struct {
	ports.TurnStore
	mu    sync.Mutex
	turns map[string]*domain.Turn
}

func (c *committedTurns) commit(t *domain.Turn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.turns[t.ID] = t
}

func (c *committedTurns) GetTurn(_ context.Context, _, turnID string) (*domain.Turn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.turns[turnID]; ok {
		return t, nil
	}
	return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
}

type idemFixture struct {
	clock clock.Fake
	keys  *countingKeys
	turns *committedTurns
	uc    *Idempotency
	req   KeyedRequest
}

const testHold = 10 * time.Second

func newIdemFixture(wait time.Duration) *idemFixture {
	clock := clock.NewFake()
	f := &idemFixture{clock: clock, keys: &countingKeys{IdempotencyStore: memory.New(clock)},
		turns: &committedTurns{turns: map[string]*domain.Turn{}},
		req:   KeyedRequest{TenantID: "tenant", Key: "k", Fingerprint: "POST /v1/chat body"}}
	f.uc = NewIdempotency(IdempotencyConfig{TTL: 24 * time.Hour, Wait: wait, Hold: testHold, Poll: time.Millisecond}, f.keys, f.turns, clock)
	return f
}

// answerWithTurn is a run that commits the turn it was told to and
// answers with it.
func (f *idemFixture) answerWithTurn(ctx context.Context) Reply {
	k, ok := keyedTurnOf(ctx)
	if !ok {
		panic("a run under a key is told its turn")
	}
	f.turns.commit(&domain.Turn{ID: k.turnID, TenantID: f.req.TenantID, Status: domain.TurnCompleted, Response: "hi", KeyedRequest: k.request})
	return Reply{Status: 200, TurnID: k.turnID}
}

func mustNotRun(t *testing.T) func(context.Context) Reply {
	return func(context.Context) Reply {
		t.Error("the request ran again")
		return Reply{Status: 500}
	}
}

// A request answered by the turn it committed costs one store write, the
// claim: a retry finds the turn by the id the claim names.
func TestKeyedTurnAnswersWithOneWrite(t *testing.T) {
	f := newIdemFixture(time.Minute)
	a, err := f.uc.Do(t.Context(), f.req, f.answerWithTurn)
	require.NoError(t, err)
	require.True(t, a.Ran)
	assert.Equal(t, []string{"claim"}, f.keys.take(), "no completion write after the turn answered")

	a, err = f.uc.Do(t.Context(), f.req, mustNotRun(t))
	require.NoError(t, err)
	require.NotNil(t, a.Turn, "the retry answers with the committed turn")
	assert.Equal(t, "hi", a.Turn.Response)
}

// Replies that are not a turn are stored (4xx) or release the key (5xx,
// transient 4xx, a client that left) as before.
func TestRepliesAreStoredOrReleased(t *testing.T) {
	for _, tc := range []struct {
		reply Reply
		want  string
	}{
		{Reply{Status: 422, Code: domain.CodeInvalidRequest, Body: []byte("bad")}, "complete"},
		{Reply{Status: 500, Code: domain.CodeInternal}, "release"},
		{Reply{Status: 503, Code: domain.CodeStoreUnavailable}, "release"},
		{Reply{Status: 409, Code: domain.CodeSessionBusy}, "release"},
		{Reply{Status: 200, TurnID: "other", Left: true}, "release"},
	} {
		f := newIdemFixture(time.Minute)
		_, err := f.uc.Do(t.Context(), f.req, func(context.Context) Reply { return tc.reply })
		require.NoError(t, err)
		assert.Equal(t, []string{"claim", tc.want}, f.keys.take(), "%+v", tc.reply)
	}
}

// A client that left after its turn was committed does not free the key:
// the committed turn answers the retry, which does not run again.
func TestClientThatLeftAfterItsTurnCommittedKeepsTheKey(t *testing.T) {
	f := newIdemFixture(time.Minute)
	_, err := f.uc.Do(t.Context(), f.req, func(ctx context.Context) Reply {
		r := f.answerWithTurn(ctx)
		r.Left = true
		return r
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"claim"}, f.keys.take(), "neither released nor completed")
	a, err := f.uc.Do(t.Context(), f.req, mustNotRun(t))
	require.NoError(t, err)
	require.NotNil(t, a.Turn, "the retry answers with the committed turn")
}

// A claim whose owner died (it stopped renewing) holds its key for one
// hold, judged by the clock: before it a retry is told the key is in
// progress; after it the retry takes the claim over and runs, under the
// same keyed request.
func TestClaimOfADeadOwnerIsTakenOverAfterItsHold(t *testing.T) {
	f := newIdemFixture(0)
	dead := f.uc.newClaim(f.req, "request-1")
	_, claimed, err := f.keys.ClaimIdempotencyKey(t.Context(), dead)
	require.NoError(t, err)
	require.True(t, claimed)

	f.clock.Advance(testHold - time.Millisecond)
	_, err = f.uc.Do(t.Context(), f.req, mustNotRun(t))
	require.True(t, domain.IsCode(err, domain.CodeIdempotencyInProgress), "within the hold: %v", err)

	f.clock.Advance(time.Millisecond)
	var ran keyedTurn
	a, err := f.uc.Do(t.Context(), f.req, func(ctx context.Context) Reply {
		ran, _ = keyedTurnOf(ctx)
		return f.answerWithTurn(ctx)
	})
	require.NoError(t, err)
	require.True(t, a.Ran, "past the hold the retry takes over and runs")
	assert.Equal(t, "request-1", ran.request, "a takeover keeps the keyed request, so the store refuses a second answer")
	assert.NotEqual(t, dead.TurnID, ran.turnID)
	assert.Equal(t, []string{"claim", "claim", "claim", "takeover"}, f.keys.take(), "no completion write after the turn answered")
}

// A claim whose run recorded its turn failed or interrupted, and was
// never settled, is not answered by that turn: once its hold lapses a
// retry takes the key over and runs the message again.
func TestTurnThatDidNotCompleteIsRunAgainAfterItsHold(t *testing.T) {
	for _, status := range []domain.TurnStatus{domain.TurnFailed, domain.TurnInterrupted} {
		t.Run(string(status), func(t *testing.T) {
			f := newIdemFixture(0)
			dead := f.uc.newClaim(f.req, "request-1")
			_, claimed, err := f.keys.ClaimIdempotencyKey(t.Context(), dead)
			require.NoError(t, err)
			require.True(t, claimed)
			f.turns.commit(&domain.Turn{ID: dead.TurnID, TenantID: f.req.TenantID, Status: status, Response: "half"})

			f.clock.Advance(testHold)
			a, err := f.uc.Do(t.Context(), f.req, f.answerWithTurn)
			require.NoError(t, err)
			assert.True(t, a.Ran, "the retry runs instead of replaying the %s turn", status)
			assert.Nil(t, a.Turn)
		})
	}
}

// A turn whose commit was neither confirmed nor refuted keeps the key:
// while the turn cannot be found a retry is told the key is in progress
// (within the hold), and once the turn is found it answers with it.
func TestUnknownOutcomeKeepsTheKey(t *testing.T) {
	f := newIdemFixture(0)
	var turnID string
	a, err := f.uc.Do(t.Context(), f.req, func(ctx context.Context) Reply {
		k, _ := keyedTurnOf(ctx)
		turnID = k.turnID
		return Reply{Status: 503, Code: domain.CodeStoreUnavailable, TurnID: k.turnID, Unknown: true}
	})
	require.NoError(t, err)
	require.True(t, a.Ran)
	assert.Equal(t, []string{"claim"}, f.keys.take(), "neither released nor completed")

	_, err = f.uc.Do(t.Context(), f.req, mustNotRun(t))
	require.True(t, domain.IsCode(err, domain.CodeIdempotencyInProgress), "%v", err)

	// The commit had landed.
	f.turns.commit(&domain.Turn{ID: turnID, TenantID: f.req.TenantID, Status: domain.TurnCompleted, Response: "landed"})
	a, err = f.uc.Do(t.Context(), f.req, mustNotRun(t))
	require.NoError(t, err)
	require.NotNil(t, a.Turn)
	assert.Equal(t, "landed", a.Turn.Response)
}

// The same request under another fingerprint is refused.
func TestKeyReusedWithAnotherRequest(t *testing.T) {
	f := newIdemFixture(time.Minute)
	_, err := f.uc.Do(t.Context(), f.req, f.answerWithTurn)
	require.NoError(t, err)
	other := f.req
	other.Fingerprint = "POST /v1/chat other body"
	_, err = f.uc.Do(t.Context(), other, mustNotRun(t))
	require.True(t, domain.IsCode(err, domain.CodeIdempotencyKeyReused), "%v", err)
}

// refusedRenewals are idempotency keys whose claim renewals are refused,
// as a store refuses those of a claim taken over, and told of.
type refusedRenewals struct {
	ports.IdempotencyStore
	renewed chan struct{}
}

func (k refusedRenewals) RenewIdempotencyClaim(context.Context, string, string, string, time.Time) error {
	k.renewed <- struct{}{}
	return domain.Errorf(domain.CodeNotFound, "the claim is another request's now")
}

// rearmCounting is a fake clock that counts its timers' re-arms.
type rearmCounting struct {
	clock.Fake
	rearms atomic.Int32
}

func (c *rearmCounting) AfterFunc(d time.Duration, f func()) ports.Timer {
	return rearmCounted{Timer: c.Fake.AfterFunc(d, f), by: c}
}

type rearmCounted struct {
	ports.Timer
	by *rearmCounting
}

func (t rearmCounted) Reset(d time.Duration) bool {
	t.by.rearms.Add(1)
	return t.Timer.Reset(d)
}

// A claim renewal refused (NOT_FOUND: the claim was taken over) is the
// last: a request that lost its key stops holding it while it runs on.
func TestClaimRenewalsEndWhenTheClaimWasTakenOver(t *testing.T) {
	c := &rearmCounting{Fake: clock.NewFake()}
	keys := refusedRenewals{IdempotencyStore: memory.New(c), renewed: make(chan struct{}, 2)}
	uc := NewIdempotency(IdempotencyConfig{TTL: time.Hour, Wait: time.Second, Hold: testHold}, keys,
		&committedTurns{turns: map[string]*domain.Turn{}}, c)
	letGo := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := uc.Do(context.Background(), KeyedRequest{TenantID: "tenant", Key: "k", Fingerprint: "f"}, func(context.Context) Reply {
			<-letGo
			return Reply{Status: 500}
		})
		done <- err
	}()
	require.NoError(t, c.BlockUntilContext(t.Context(), 1))
	c.Advance(testHold / 3)
	select {
	case <-keys.renewed:
	case <-time.After(time.Minute):
		t.Fatal("no claim renewal")
	}
	close(letGo) // the run's end waits for the renewal in progress
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the request did not end")
	}
	require.Zero(t, c.rearms.Load(), "renewals went on after the claim was taken over")
}
