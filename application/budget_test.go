package application_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/memory"
	"focal/application"
	"focal/domain"
	"focal/ports"
)

// manualClock moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After is the wall clock's: nothing here waits on this clock.
func (c *manualClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *manualClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newGate(t *testing.T, clk ports.Clock, block int64, wait time.Duration) (*application.BudgetGate, *application.TenantUsage) {
	t.Helper()
	gate, err := application.NewBudgetGate(application.BudgetConfig{BlockTokens: block, Refresh: 0, EdgeWait: wait, Holder: "test"},
		memory.NewBudgets(), memory.NewUsage(), clk, nil)
	require.NoError(t, err)
	usage, err := application.NewTenantUsage(gate)
	require.NoError(t, err)
	return gate, usage
}

func turnOf(n int) domain.TokenUsage { return domain.TokenUsage{Prompt: n - n/2, Completion: n / 2} }

// At the edge of the budget, a turn waits for the tenant's running turn
// on this instance, and is admitted once it has settled, as what is left
// allows; the last tokens go to one turn alone; with nothing left the
// refusal names the reset.
func TestBudgetEdgeAdmitsOneTurnAtATime(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	gate, usage := newGate(t, clk, 100, time.Minute)
	ctx := context.Background()
	_, err := usage.SetBudget(ctx, tenant, 250)
	require.NoError(t, err)

	first, err := gate.Admit(ctx, tenant) // reserves a block: it knows no turn yet
	require.NoError(t, err)
	first.Settle(turnOf(100))
	second, err := gate.Admit(ctx, tenant) // reserves the largest turn seen: 100
	require.NoError(t, err)

	// 50 are left unreserved: less than a turn, and no block is left to
	// claim, so the next turn waits for the running one.
	waiting := make(chan error, 1)
	var third application.TurnPass
	go func() {
		var err error
		third, err = gate.Admit(ctx, tenant)
		waiting <- err
	}()
	require.Eventually(t, func() bool { return gate.EdgeWaiters(tenant) == 1 }, 10*time.Second, time.Millisecond, "the third turn waits")
	second.Settle(turnOf(40)) // less than it reserved: 110 are left
	require.NoError(t, <-waiting, "admitted once the running turn settled")
	third.Settle(turnOf(100))
	fourth, err := gate.Admit(ctx, tenant) // 10 left, nothing running: the last turn
	require.NoError(t, err)
	fourth.Settle(turnOf(100)) // it overspends by less than one turn

	_, err = gate.Admit(ctx, tenant)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.CodeBudgetExceeded, de.Code)
	assert.Contains(t, de.Message, "2026-04-01T00:00:00Z")
	assert.Equal(t, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Sub(clk.Now()), de.RetryAfter)

	v, err := usage.Usage(ctx, tenant)
	require.NoError(t, err)
	assert.EqualValues(t, 340, v.TotalTokens)
	assert.EqualValues(t, 4, v.Turns)
	assert.Zero(t, v.Budget.RemainingTokens)

	// The next month the budget is whole again, and the usage starts anew.
	clk.set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	p, err := gate.Admit(ctx, tenant)
	require.NoError(t, err)
	p.Settle(turnOf(10))
	v, err = usage.Usage(ctx, tenant)
	require.NoError(t, err)
	assert.Equal(t, "2026-04", v.Month)
	assert.EqualValues(t, 10, v.TotalTokens)
	assert.EqualValues(t, 240, v.Budget.RemainingTokens)
}

// A turn that waits at the edge longer than the edge wait is refused as
// retryable soon; a raised budget admits turns again at once.
func TestBudgetEdgeWaitAndRaise(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	gate, usage := newGate(t, clk, 100, 20*time.Millisecond)
	ctx := context.Background()
	_, err := usage.SetBudget(ctx, tenant, 100)
	require.NoError(t, err)
	running, err := gate.Admit(ctx, tenant)
	require.NoError(t, err)

	_, err = gate.Admit(ctx, tenant)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, domain.CodeBudgetExceeded, de.Code)
	assert.Equal(t, time.Second, de.RetryAfter, "the budget is not spent yet: retry soon")

	running.Settle(turnOf(60))
	_, err = usage.SetBudget(ctx, tenant, 1000)
	require.NoError(t, err)
	for range 5 {
		p, err := gate.Admit(ctx, tenant)
		require.NoError(t, err)
		p.Settle(turnOf(60))
	}
	v, err := usage.Usage(ctx, tenant)
	require.NoError(t, err)
	assert.EqualValues(t, 360, v.TotalTokens)
	assert.EqualValues(t, 1000, v.Budget.MonthlyTokens)

	// A caller that gives up while waiting gets its own context's error.
	_, err = usage.SetBudget(ctx, tenant, 400)
	require.NoError(t, err)
	held, err := gate.Admit(ctx, tenant)
	require.NoError(t, err)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, err = gate.Admit(gone, tenant)
	assert.ErrorIs(t, err, context.Canceled)
	held.Cancel()
}

// A turn that never ran (refused after admission: a busy or unknown
// session) gives its reservation back and is not counted; a turn that ran
// is counted whatever its tokens, none included.
func TestCancelledPassIsNotCounted(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	gate, usage := newGate(t, clk, 100, time.Minute)
	ctx := context.Background()
	_, err := usage.SetBudget(ctx, tenant, 100)
	require.NoError(t, err)
	p, err := gate.Admit(ctx, tenant)
	require.NoError(t, err)
	p.Cancel()
	p.Settle(turnOf(50)) // too late: the pass is spent
	p, err = gate.Admit(ctx, tenant)
	require.NoError(t, err, "the cancelled turn's reservation came back")
	p.Settle(domain.TokenUsage{})
	v, err := usage.Usage(ctx, tenant)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v.Turns, "only the turn that ran")
	assert.Zero(t, v.TotalTokens)
	assert.EqualValues(t, 100, v.Budget.RemainingTokens)
}

// A budget-gated use case holds each turn's pass in the prepared turn
// (gateInto): an aborted turn gives its reservation back and is not
// counted, as a cancelled pass from Admit is, and turns that ran are
// counted and charged once each, as settled ones are.
func TestPreparedTurnsHoldTheirPassesAsAdmitGivesThem(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	// A turn left waiting at the edge fails fast: none should wait.
	gate, usage := newGate(t, clk, 100, 100*time.Millisecond)
	ctx := context.Background()
	_, err := usage.SetBudget(ctx, tenant, 100)
	require.NoError(t, err)
	store := memory.New(clk)
	uc := newUseCase(t, store, store)
	uc.GateTurns(gate)
	cmd := application.ChatCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		Channel: "web", UserChannelID: "u", Message: "hi"}

	aborted, err := uc.Prepare(ctx, cmd)
	require.NoError(t, err)
	aborted.Abort(ctx)
	// The whole budget is one block: had the aborted turn kept its
	// reservation, this pass would wait at the edge for it.
	p, err := gate.Admit(ctx, tenant)
	require.NoError(t, err, "the aborted turn's reservation came back")
	p.Cancel()

	for range 3 {
		turn, err := uc.Prepare(ctx, cmd)
		require.NoError(t, err)
		_, err = turn.Run(ctx, func(string) error { return nil })
		require.NoError(t, err)
	}
	v, err := usage.Usage(ctx, tenant)
	require.NoError(t, err)
	assert.EqualValues(t, 3, v.Turns, "the turns that ran, once each")
	assert.Zero(t, v.TotalTokens, "template replies spend no tokens")
	assert.EqualValues(t, 100, v.Budget.RemainingTokens)
	assert.Zero(t, gate.EdgeWaiters(tenant))
}
