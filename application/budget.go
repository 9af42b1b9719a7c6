package application

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"focal/domain"
	"focal/ports"
)

// TurnGate admits a tenant's turns before they run and is told what each
// cost. ProcessMessage asks it after its checks and before it takes the
// session's lease.
type TurnGate interface {
	// Admit lets a turn of the tenant start, or refuses it
	// (BUDGET_EXCEEDED, STORE_UNAVAILABLE, or ctx's error).
	Admit(ctx context.Context, tenantID string) (TurnPass, error)
}

// TurnPass is an admitted turn's hold on its tenant's budget: Settle it
// once with the tokens the turn spent when it ran, or Cancel it when it
// did not run (only the first call counts).
type TurnPass interface {
	Settle(usage domain.TokenUsage)
	Cancel()
}

// openGate admits every turn: the gate of a ProcessMessage without budgets.
type openGate struct{}

func (openGate) Admit(context.Context, string) (TurnPass, error) { return freePass{}, nil }

type freePass struct{}

func (freePass) Settle(domain.TokenUsage) {}
func (freePass) Cancel()                  {}

// UsageObserver hears of charged turns and refused ones (metrics).
type UsageObserver interface {
	TurnCharged(tenantID string, usage domain.TokenUsage)
	BudgetRefused(tenantID string)
}

// BudgetConfig tunes budgets and usage accounting.
type BudgetConfig struct {
	// BlockTokens is the size of the blocks an instance claims from a
	// budget. At the end of a month up to one block per other instance may
	// stay unused; smaller blocks waste less and claim more often.
	BlockTokens int64
	// Refresh is how stale a cached budget may be.
	Refresh time.Duration
	// EdgeWait bounds how long a turn waits, at the edge of the budget,
	// for the tenant's running turns on this instance to settle.
	EdgeWait time.Duration
	// Holder names this instance in block claims and usage records.
	Holder string
}

// Validate checks the configuration.
func (c BudgetConfig) Validate() error {
	switch {
	case c.BlockTokens < 1:
		return errors.New("budget block must be at least 1 token")
	case c.Refresh < 0 || c.EdgeWait < 0:
		return errors.New("budget refresh and edge wait must not be negative")
	case c.Holder == "":
		return errors.New("budget holder is required")
	}
	return nil
}

// BudgetGate is a TurnGate that keeps each tenant's monthly token budget
// across instances, and counts every tenant's usage.
//
// A budget month's tokens are cut into blocks (BlockTokens); an instance
// claims a block in the store, insert-once, before it lets turns spend
// from it, so no token is ever granted twice. A turn is admitted while the
// instance's blocks have room for it: room for the largest turn it has
// seen of the tenant this month (a block, before it has seen one). When no
// block is left to claim, turns of the tenant run one at a time on the
// instance, each admitted while any room is left: so an instance overspends
// by at most the cost of one turn beyond the largest it had seen, and the
// tenant by at most that per instance.
//
// Usage is counted in memory per tenant and month and written by Flush (a
// record per instance, see ports.UsageMeter).
type BudgetGate struct {
	cfg      BudgetConfig
	budgets  ports.BudgetStore
	meter    ports.UsageMeter
	clock    ports.Clock
	observer UsageObserver

	// ledgers holds each tenant's ledger (string → *ledger), made on its
	// first turn and kept: a turn finds its tenant's without a lock, where
	// mu was a line both cores' turns wrote.
	ledgers sync.Map
	mu      sync.Mutex // guards usage
	usage   map[usageKey]*usageEntry
	flushMu sync.Mutex // one flush at a time: a holder writes its records in order
}

// ledger is one tenant's budget as this instance holds it.
type ledger struct {
	mu        sync.Mutex
	budget    *ports.TenantBudget // nil: no budget
	checkedAt time.Time
	checked   bool
	period    string // month@spent-before: the blocks' key
	effective int64  // tokens the period's blocks cover
	blocks    []int  // claimed by this instance
	capacity  int64  // tokens of those blocks
	spent     int64  // charged against them
	reserved  int64  // held by turns in flight
	inflight  int
	largest   int64 // the costliest turn settled this period
	exhausted bool  // no block left to claim
	waiting   int   // turns waiting at the edge
	changed   chan struct{}
}

type usageKey struct{ tenant, month string }

type usageEntry struct {
	totals  ports.UsageTotals
	written ports.UsageTotals
}

// NewBudgetGate returns the gate; observer may be nil.
func NewBudgetGate(cfg BudgetConfig, budgets ports.BudgetStore, meter ports.UsageMeter, clock ports.Clock, observer UsageObserver) (*BudgetGate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if budgets == nil || meter == nil || clock == nil {
		return nil, errors.New("budget gate: budget store, usage meter and clock are required")
	}
	return &BudgetGate{cfg: cfg, budgets: budgets, meter: meter, clock: clock, observer: observer,
		usage: map[usageKey]*usageEntry{}}, nil
}

// MonthOf is the budget month of t: "2006-01" in UTC. Every turn asks
// it, so the month's string is kept (domain.DateFormat).
func MonthOf(t time.Time) string { return budgetMonth.Format(t.UTC()) }

var budgetMonth = domain.NewDateFormat("2006-01")

// MonthEnd is when t's budget month ends and the next one's budget starts.
func MonthEnd(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
}

func (g *BudgetGate) ledger(tenantID string) *ledger {
	if l, ok := g.ledgers.Load(tenantID); ok {
		return l.(*ledger)
	}
	l, _ := g.ledgers.LoadOrStore(tenantID, &ledger{changed: make(chan struct{})})
	return l.(*ledger)
}

// pass is a turn's hold on a ledger.
type pass struct {
	g       *BudgetGate
	tenant  string
	l       *ledger
	period  string
	reserve int64
	once    sync.Once
}

// gateInto is a TurnGate that can write the pass it admits a turn with
// into space of the caller's (a PreparedTurn's) rather than allocate it:
// every turn is admitted.
type gateInto interface {
	admitInto(ctx context.Context, tenantID string, into *pass, now time.Time) (TurnPass, error)
}

// Admit implements TurnGate.
func (g *BudgetGate) Admit(ctx context.Context, tenantID string) (TurnPass, error) {
	return g.admitInto(ctx, tenantID, nil, time.Time{})
}

// admitInto is Admit writing the pass into into, or into a pass of its
// own when into is nil. now is the gate's clock as the caller has just
// read it (a turn's start), which the first look at the budget goes by,
// or zero.
func (g *BudgetGate) admitInto(ctx context.Context, tenantID string, into *pass, now time.Time) (TurnPass, error) {
	l := g.ledger(tenantID)
	// The wait at the budget's edge is bounded from here; its deadline (a
	// context and a timer) is made only once a turn has to wait, which
	// few do.
	deadline := time.Now().Add(g.cfg.EdgeWait)
	var waitCtx context.Context
	l.mu.Lock()
	for {
		p, done, err := g.tryAdmit(ctx, tenantID, l, into, now)
		now = time.Time{} // after a wait, the clock is read again
		if done {
			return p, err
		}
		if waitCtx == nil {
			var cancel context.CancelFunc
			waitCtx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		if err := g.waitAtEdge(ctx, waitCtx, tenantID, l); err != nil {
			return nil, err
		}
	}
}

// tryAdmit, with l locked, admits the turn or refuses it (done, and l
// unlocked), or reports that it must wait for the tenant's running turns
// on this instance (l still locked). Its first refresh goes by now, unless
// zero.
func (g *BudgetGate) tryAdmit(ctx context.Context, tenantID string, l *ledger, into *pass, now time.Time) (TurnPass, bool, error) {
	for ; ; now = (time.Time{}) {
		if err := g.refresh(ctx, tenantID, l, now); err != nil {
			l.mu.Unlock()
			return nil, true, err
		}
		if l.budget == nil {
			return l.admit(g, tenantID, 0, into), true, nil
		}
		need := l.largest
		if need == 0 {
			need = g.cfg.BlockTokens
		}
		room := l.capacity - l.spent - l.reserved
		if room >= need {
			return l.admit(g, tenantID, need, into), true, nil
		}
		claimed, err := g.claimBlock(ctx, tenantID, l)
		if err != nil {
			l.mu.Unlock()
			return nil, true, err
		}
		if claimed {
			continue
		}
		// No block left: the last of the budget goes to one turn at a time.
		if l.inflight > 0 {
			return nil, false, nil
		}
		if room > 0 {
			return l.admit(g, tenantID, room, into), true, nil
		}
		b := l.budget
		l.mu.Unlock()
		return nil, true, g.refuse(tenantID, b)
	}
}

// claimBlock, with l locked, claims the next block of the tenant's budget
// for this instance; false once every block is claimed.
func (g *BudgetGate) claimBlock(ctx context.Context, tenantID string, l *ledger) (bool, error) {
	if l.exhausted {
		return false, nil
	}
	limit := int((l.effective + g.cfg.BlockTokens - 1) / g.cfg.BlockTokens)
	n, ok, err := g.budgets.ClaimBudgetBlock(ctx, tenantID, l.period, limit, g.cfg.Holder)
	if err != nil {
		return false, err
	}
	if !ok {
		l.exhausted = true
		return false, nil
	}
	l.blocks = append(l.blocks, n)
	l.capacity += g.blockSize(l, n)
	return true, nil
}

// waitAtEdge, with l locked, waits until one of the tenant's turns on this
// instance settles (nil, l locked again) or the edge wait ends (an error,
// l unlocked).
func (g *BudgetGate) waitAtEdge(ctx, waitCtx context.Context, tenantID string, l *ledger) error {
	changed := l.changed
	l.waiting++
	l.mu.Unlock()
	select {
	case <-changed:
		l.mu.Lock()
		l.waiting--
		return nil
	case <-waitCtx.Done():
	}
	l.mu.Lock()
	l.waiting--
	l.mu.Unlock()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if g.observer != nil {
		g.observer.BudgetRefused(tenantID)
	}
	return &domain.Error{Code: domain.CodeBudgetExceeded, RetryAfter: time.Second,
		Message: "the monthly token budget is almost used up and its last tokens are held by running turns; retry shortly"}
}

// EdgeWaiters reports how many of the tenant's turns wait at the edge of
// its budget on this instance now (tests wait on it).
func (g *BudgetGate) EdgeWaiters(tenantID string) int {
	l := g.ledger(tenantID)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting
}

// admit reserves tokens for a turn and unlocks the ledger.
func (l *ledger) admit(g *BudgetGate, tenantID string, reserve int64, into *pass) *pass {
	defer l.mu.Unlock()
	l.reserved += reserve
	l.inflight++
	if into == nil {
		into = new(pass)
	}
	into.g, into.tenant, into.l, into.period, into.reserve = g, tenantID, l, l.period, reserve
	return into
}

func (g *BudgetGate) refuse(tenantID string, b *ports.TenantBudget) error {
	if g.observer != nil {
		g.observer.BudgetRefused(tenantID)
	}
	now := g.clock.Now()
	reset := MonthEnd(now)
	return &domain.Error{Code: domain.CodeBudgetExceeded, RetryAfter: reset.Sub(now),
		Message: fmt.Sprintf("the monthly budget of %d tokens is used up; it resets at %s", b.MonthlyTokens, reset.Format(time.RFC3339))}
}

// blockSize is the tokens block n of the ledger's period covers.
func (g *BudgetGate) blockSize(l *ledger, n int) int64 {
	return max(0, min(g.cfg.BlockTokens, l.effective-int64(n)*g.cfg.BlockTokens))
}

// refresh reads the tenant's budget when the cached one is too old, and
// starts a new period when the month or the budget's base changed. It
// goes by now, or by the clock when now is zero.
func (g *BudgetGate) refresh(ctx context.Context, tenantID string, l *ledger, now time.Time) error {
	if now.IsZero() {
		now = g.clock.Now()
	}
	if !l.checked || now.Sub(l.checkedAt) >= g.cfg.Refresh {
		b, err := g.budgets.TenantBudget(ctx, tenantID)
		if domain.IsCode(err, domain.CodeNotFound) {
			b, err = nil, nil
		}
		if err != nil {
			return err
		}
		l.budget, l.checked, l.checkedAt = b, true, now
	}
	if l.budget == nil {
		return nil
	}
	month := MonthOf(now)
	var before int64
	if l.budget.Month == month {
		before = l.budget.SpentBefore
	}
	period := month + "@" + strconv.FormatInt(before, 10)
	effective := max(0, l.budget.MonthlyTokens-before)
	switch {
	case period != l.period:
		l.period, l.effective, l.blocks, l.capacity, l.spent, l.largest, l.exhausted = period, effective, nil, 0, 0, 0, false
	case effective != l.effective:
		// A changed budget resizes the blocks held and may free more.
		l.effective, l.capacity, l.exhausted = effective, 0, false
		for _, n := range l.blocks {
			l.capacity += g.blockSize(l, n)
		}
	}
	return nil
}

// Forget drops the cached budget of a tenant, so this instance reads a
// changed one at once.
func (g *BudgetGate) Forget(tenantID string) {
	l := g.ledger(tenantID)
	l.mu.Lock()
	l.checked = false
	l.mu.Unlock()
}

// Settle implements TurnPass: the turn's tokens are charged and counted,
// and a turn waiting at the edge of the budget decides again.
func (p *pass) Settle(usage domain.TokenUsage) { p.settle(usage, true, time.Time{}) }

// settleAt is Settle with the turn counted in the month of now, the gate's
// clock as the caller has just read it (when its turn ended).
func (p *pass) settleAt(usage domain.TokenUsage, now time.Time) { p.settle(usage, true, now) }

// Cancel implements TurnPass: the reservation goes back, and the turn is
// not counted in the tenant's usage.
func (p *pass) Cancel() { p.settle(domain.TokenUsage{}, false, time.Time{}) }

// settle settles the pass once; a turn that ran is counted in the month of
// now, or of the clock's reading when now is zero.
func (p *pass) settle(usage domain.TokenUsage, ran bool, now time.Time) {
	p.once.Do(func() {
		cost := int64(usage.Total())
		l := p.l
		l.mu.Lock()
		l.inflight--
		if p.period == l.period {
			l.reserved -= p.reserve
		}
		if l.budget != nil && cost > 0 {
			l.spent += cost
			l.largest = max(l.largest, cost)
		}
		// Waiters at the edge are woken; with none (waitAtEdge counts
		// them under this lock) the channel stays as it is, and a turn
		// settles without making one.
		if l.waiting > 0 {
			close(l.changed)
			l.changed = make(chan struct{})
		}
		l.mu.Unlock()
		if ran {
			p.g.count(p.tenant, usage, now)
		}
	})
}

// count adds a settled turn to the tenant's usage in the month of now, or
// this month by the clock when now is zero.
func (g *BudgetGate) count(tenantID string, usage domain.TokenUsage, now time.Time) {
	if now.IsZero() {
		now = g.clock.Now()
	}
	k := usageKey{tenantID, MonthOf(now)}
	g.mu.Lock()
	e, ok := g.usage[k]
	if !ok {
		e = &usageEntry{}
		g.usage[k] = e
	}
	e.totals.Prompt += int64(usage.Prompt)
	e.totals.Completion += int64(usage.Completion)
	e.totals.Turns++
	g.mu.Unlock()
	if g.observer != nil {
		g.observer.TurnCharged(tenantID, usage)
	}
}

// Flush writes this instance's usage records that changed since the last
// flush (of tenantID only, when it is not ""), and forgets months that
// are over once written. Safe to call concurrently with turns.
func (g *BudgetGate) Flush(ctx context.Context, tenantID string) error {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	month := MonthOf(g.clock.Now())
	type dirty struct {
		k      usageKey
		totals ports.UsageTotals
	}
	var todo []dirty
	g.mu.Lock()
	for k, e := range g.usage {
		if (tenantID == "" || k.tenant == tenantID) && e.totals != e.written {
			todo = append(todo, dirty{k, e.totals})
		}
	}
	g.mu.Unlock()
	var errs []error
	for _, d := range todo {
		err := g.meter.RecordUsage(ctx, ports.UsageRecord{TenantID: d.k.tenant, Month: d.k.month, Holder: g.cfg.Holder,
			Prompt: d.totals.Prompt, Completion: d.totals.Completion, Turns: d.totals.Turns, UpdatedAt: g.clock.Now()})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.mu.Lock()
		if e := g.usage[d.k]; e != nil {
			e.written = d.totals
			if d.k.month != month && e.totals == e.written {
				delete(g.usage, d.k)
			}
		}
		g.mu.Unlock()
	}
	return errors.Join(errs...)
}
