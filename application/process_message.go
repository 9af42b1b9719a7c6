package application

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"focal/domain"
	"focal/ports"
)

// ChatConfig tunes turn processing.
type ChatConfig struct {
	// SessionIdleTTL closes sessions idle longer than this (0: never).
	SessionIdleTTL time.Duration
	// LockWait is how long a message waits for its busy session.
	LockWait time.Duration
	// LeaseTTL is how long a session lease lasts unrenewed: a turn renews
	// its lease every third of it while it runs and commits, so a session
	// whose holder died is taken over this long after its last renewal.
	LeaseTTL time.Duration
	// TurnTimeout bounds one turn's engine run.
	TurnTimeout time.Duration
	// CommitTimeout bounds the commit of a turn whose request has ended.
	CommitTimeout time.Duration
}

// Validate checks the configuration.
func (c ChatConfig) Validate() error {
	switch {
	case c.LockWait < 0 || c.SessionIdleTTL < 0:
		return errors.New("lock wait and session idle TTL must not be negative")
	case c.TurnTimeout <= 0:
		return errors.New("turn timeout must be positive")
	case c.LeaseTTL < time.Second:
		return errors.New("session lease TTL must be at least a second")
	case c.CommitTimeout <= 0:
		return errors.New("commit timeout must be positive")
	}
	return nil
}

// ProcessMessage is the chat use case: it resolves the session, runs the
// engine under the session's lease and commits the turn.
type ProcessMessage struct {
	cfg      ChatConfig
	policies *PolicyCache
	sessions ports.SessionStore
	turns    ports.TurnStore
	locker   ports.SessionLocker
	engine   ports.Engine
	clock    ports.Clock
	gate     TurnGate
	releases *Releases
	// policyClock and gateClock: the policy cache and the gate go by
	// uc.clock too (sameClock), so a turn's start serves them as their
	// own reading would.
	policyClock, gateClock bool
	// machineClock: uc.clock is the machine's (ports.MachineClock), so a
	// reading of it serves where time.Now's would (the turn's id, the
	// commit's start).
	machineClock bool
	// edgeWait is the longest a turn waits at its budget's edge (the
	// gate's EdgeWait): part of how long a turn can last (Unrecorded).
	edgeWait time.Duration
	// renewSlots are the timers turns renew their leases on, kept from
	// turn to turn (renewSlot).
	renewSlots sync.Pool
}

// NewProcessMessage wires the use case.
func NewProcessMessage(cfg ChatConfig, policies *PolicyCache, sessions ports.SessionStore, turns ports.TurnStore,
	locker ports.SessionLocker, engine ports.Engine, clock ports.Clock) (*ProcessMessage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if policies == nil || sessions == nil || turns == nil || locker == nil || engine == nil || clock == nil {
		return nil, errors.New("process message: every dependency is required")
	}
	return &ProcessMessage{cfg: cfg, policies: policies, sessions: sessions, turns: turns, locker: locker, engine: engine,
		clock: clock, gate: openGate{}, policyClock: sameClock(policies.clock, clock), machineClock: ports.IsMachineClock(clock)}, nil
}

// GateTurns makes every turn pass gate (budgets) before it takes its
// session's lease; call it before serving.
func (uc *ProcessMessage) GateTurns(gate TurnGate) {
	uc.gate = gate
	g, ok := gate.(*BudgetGate)
	uc.gateClock = ok && sameClock(g.clock, uc.clock)
	if ok {
		uc.edgeWait = g.cfg.EdgeWait
	}
}

// sameClock reports whether a and b are one clock, which one reading
// serves. Clocks of a type that cannot be compared are taken as two.
func sameClock(a, b ports.Clock) bool {
	t := reflect.TypeOf(a)
	return t == reflect.TypeOf(b) && t.Comparable() && a == b
}

// RetryReleases hands the release of a lease that could not reach the
// store to r, which retries it when the store is back; call it before
// serving.
func (uc *ProcessMessage) RetryReleases(r *Releases) { uc.releases = r }

// release gives a lease up, also when the caller's request has ended, as
// Releases.Release does; the lease's Release is kept for a retry only when
// the store was unreachable, so a turn's release allocates no closure.
func (uc *ProcessMessage) release(ctx context.Context, lease ports.SessionLease) {
	uc.releaseIn(nil, ctx, lease)
}

// releaseIn is release with its attempt bounded by attempt, a zero context
// of the caller's, or by one of its own when attempt is nil.
func (uc *ProcessMessage) releaseIn(attempt *deadlineContext, ctx context.Context, lease ports.SessionLease) {
	if err := attemptReleaseIn(attempt, ctx, lease.Release); domain.IsCode(err, domain.CodeStoreUnavailable) {
		uc.releases.queue(uc.cfg.LeaseTTL, lease.Release)
	}
}

// PreparedTurn is a turn that passed every check and holds its session's
// lease; Run it or Abort it.
type PreparedTurn struct {
	uc      *ProcessMessage
	policy  *domain.Policy
	session *domain.Session
	history []domain.HistoryEntry
	lease   ports.SessionLease
	pass    TurnPass
	// budgetPass is pass's room when the gate is a budget (gateInto).
	budgetPass pass
	// firstDelta holds the first piece of reply text released (the
	// record's Deltas); keeper renews the lease while the turn runs.
	// Kept here, the turn's one allocation, rather than each on its own.
	firstDelta [1]string
	sink       ports.DeltaSink
	keeper     renewer
	// detached is the request's context without its cancellation: what
	// the keeper renews the lease under, and the commit and the release
	// run under.
	detached detachedContext
	turnCtx  turnContext // what the engine runs under (TurnTimeout), with its space
	// commitCtx and releaseCtx bound the commit's first attempt and the
	// release, held here rather than allocated each.
	commitCtx, releaseCtx deadlineContext
	// turn is the turn's record, which the store encodes and keeps no
	// pointer to. From Prepare on it holds what the engine reads of the
	// command, the turn's id and start, and the keyed request it answers
	// ("" without a key); newTurn completes it. result is the client's
	// view of it (ResultOf).
	turn   domain.Turn
	result ChatResult
	// scenario is the result's scenario once the space the explanation's
	// was in is reclaimed (reclaimSpace).
	scenario domain.ScenarioRef
}

// Prepare does everything that can fail before the engine starts:
// validation, agent and session checks, and taking the session's lease,
// which comes with the session as it stands under it and its recent
// history: one read of the session per turn.
//
// Errors: INVALID_REQUEST, TENANT_MISMATCH, AGENT_NOT_FOUND,
// BUDGET_EXCEEDED, SESSION_NOT_FOUND, SESSION_CLOSED, SESSION_BUSY,
// STORE_UNAVAILABLE.
func (uc *ProcessMessage) Prepare(ctx context.Context, cmd ChatCommand) (_ *PreparedTurn, err error) {
	started := uc.clock.Now()
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	// The policy, the budget and the lease go by the turn's start: one
	// reading of the clock where each took its own (when they share it).
	policyAt := started
	if !uc.policyClock {
		policyAt = uc.policies.clock.Now()
	}
	policy, err := uc.policies.getAt(ctx, cmd.TenantID, cmd.AgentID, policyAt, true)
	if err != nil {
		return nil, err
	}
	if !policy.Agent.Enabled {
		return nil, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", cmd.AgentID)
	}
	// The gate may make a turn wait at the edge of its tenant's budget:
	// before the lease, so that no session is held meanwhile. A budget's
	// pass is held in the prepared turn, made here for it.
	turn := &PreparedTurn{uc: uc, turn: domain.Turn{TenantID: cmd.TenantID, AgentID: cmd.AgentID,
		Message: cmd.Message, RequestID: cmd.RequestID, Metadata: cmd.Metadata, CreatedAt: started}}
	pass, err := uc.admit(ctx, cmd.TenantID, turn, started)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pass.Cancel()
		}
	}()
	// At least the previous turn: a short reply is read with what the
	// agent last said.
	lease, session, err := uc.lockSession(ctx, cmd, max(policy.Agent.Settings.HistoryTurnsOrDefault(), 1), started)
	if err != nil {
		return nil, err
	}
	keyed, ok := keyedTurnOf(ctx)
	if !ok {
		keyed.turnID = uc.newTurnID(started)
	}
	turn.policy, turn.session, turn.history, turn.lease, turn.pass = policy, session, lease.History(), lease, pass
	turn.turn.ID, turn.turn.KeyedRequest = keyed.turnID, keyed.request
	return turn, nil
}

// newTurnID is the id of a turn begun at started, a reading of uc.clock:
// made at that time on the machine's clock, which saves the id a reading
// of its own (the id is the turn's from its start: Unrecorded).
func (uc *ProcessMessage) newTurnID(started time.Time) string {
	if uc.machineClock {
		return turnIDAt(started)
	}
	return newTurnID()
}

// admit passes the turn through the gate at now, the turn's start, when
// the gate goes by the use case's clock; a gate that can holds its pass
// in turn.
func (uc *ProcessMessage) admit(ctx context.Context, tenantID string, turn *PreparedTurn, now time.Time) (TurnPass, error) {
	if g, ok := uc.gate.(gateInto); ok {
		if !uc.gateClock {
			now = time.Time{}
		}
		return g.admitInto(ctx, tenantID, &turn.budgetPass, now)
	}
	return uc.gate.Admit(ctx, tenantID)
}

// lockSession takes the lease of the session the message belongs to
// (docs/api.md, "Chat"): the one named by id, or the active session of the
// channel identity, opened when there is none. An idle session is closed;
// by channel identity its successor is opened in a second round. It
// returns the lease's session too (Session copies it on each call). The
// first round goes by now, the turn's start, which Prepare has just read
// off the clock; a second round reads it again.
func (uc *ProcessMessage) lockSession(ctx context.Context, cmd ChatCommand, history int, now time.Time) (ports.SessionLease, *domain.Session, error) {
	// By channel identity the store builds the new session only when the
	// identity has none: a returning user's turn makes no session or id.
	req := ports.LockRequest{TenantID: cmd.TenantID, SessionID: cmd.SessionID, History: history,
		Wait: uc.cfg.LockWait, TTL: uc.cfg.LeaseTTL, NewID: newSessionID,
		Key: domain.ChannelKey{TenantID: cmd.TenantID, AgentID: cmd.AgentID, Channel: cmd.Channel, UserChannelID: cmd.UserChannelID}}
	for round := range 2 {
		if round > 0 {
			now = uc.clock.Now()
		}
		req.Opened = now
		lease, err := uc.locker.LockSession(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		session := lease.Session()
		err = uc.usable(ctx, cmd, session, now)
		if err == nil {
			return lease, session, nil
		}
		uc.release(ctx, lease)
		// By channel identity a closed session only means its successor
		// is to be found or opened; by id it is the answer.
		if cmd.SessionID != "" || !domain.IsCode(err, domain.CodeSessionClosed) {
			return nil, nil, err
		}
	}
	return nil, nil, &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: time.Second,
		Message: "the session for this channel identity keeps changing; retry"}
}

// newSessionID is the id of a session a store opens for a channel
// identity (ports.LockRequest.NewID).
func newSessionID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// usable checks that a locked session may take this message: it belongs
// to the message's agent and, named by id, to its channel identity (a
// client that sends one customer's message with another's session id
// would otherwise answer from, and add to, the other's conversation: their
// variables, their flow), is not closed, and is not idle (an idle one is
// closed here).
func (uc *ProcessMessage) usable(ctx context.Context, cmd ChatCommand, s *domain.Session, now time.Time) error {
	if s.AgentID != cmd.AgentID {
		return domain.Errorf(domain.CodeSessionNotFound, "session %s not found", s.ID)
	}
	if s.Channel != cmd.Channel || s.UserChannelID != cmd.UserChannelID {
		return domain.Errorf(domain.CodeSessionNotFound, "session %s not found for this channel and user_channel_id", s.ID)
	}
	if s.Status == domain.SessionActive && s.IdleSince(now, uc.cfg.SessionIdleTTL) {
		if _, err := uc.sessions.CloseSession(ctx, cmd.TenantID, s.ID, now); err != nil {
			return err
		}
		s.Status = domain.SessionClosed
	}
	if s.Status == domain.SessionClosed {
		return domain.Errorf(domain.CodeSessionClosed, "session %s is closed", s.ID)
	}
	return nil
}

// Abort gives up a prepared turn without running it.
func (p *PreparedTurn) Abort(ctx context.Context) {
	p.uc.release(ctx, p.lease)
	p.pass.Cancel()
}

// SessionID is the session the turn belongs to.
func (p *PreparedTurn) SessionID() string { return p.session.ID }

// TurnID is the id the turn will be recorded under.
func (p *PreparedTurn) TurnID() string { return p.turn.ID }

// Run executes the turn, streaming released reply text to sink, commits it
// and releases the lease. A turn that fails or is interrupted (ctx ended,
// sink failed) is still recorded, with what was released.
//
// Errors: LLM_ERROR, LLM_UNAVAILABLE, TIMEOUT, SESSION_BUSY (lost the
// lease), STORE_UNAVAILABLE, INTERNAL_ERROR; the sink's or ctx's error when
// the client went away.
func (p *PreparedTurn) Run(ctx context.Context, sink ports.DeltaSink) (*ChatResult, error) {
	uc := p.uc
	// What outlives the request (renewals, the commit, the release) runs
	// under one context without its cancellation.
	p.detached.parent = ctx
	detached := &p.detached
	defer uc.releaseIn(&p.releaseCtx, detached, p.lease)
	p.keepLease()
	defer p.keeper.stop()
	// The pass is settled with what the turn spent, in the month of
	// ended, the clock's reading once the run ended (settle).
	var spent domain.TokenUsage
	var ended time.Time
	defer func() { p.settle(spent, ended) }()

	p.sink, p.turn.Deltas = sink, p.firstDelta[:0]
	turnCtx := &p.turnCtx
	begun := time.Now()
	turnCtx.startAt(ctx, uc.cfg.TurnTimeout, begun)
	p.lendSpace(begun)
	out, runErr := p.runEngine(turnCtx)
	// Whether the turn ran out of time only matters to a run that failed:
	// a completed one costs no look at the clock (Err reads it).
	timedOut := runErr != nil && errors.Is(turnCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	turnCtx.stop()

	turn := p.newTurn()
	if runErr = p.outcome(ctx, turn, out, runErr, timedOut); runErr == nil {
		spent = out.Usage
	}
	now := uc.clock.Now()
	ended = now
	turn.LatencyMS = now.Sub(turn.CreatedAt).Milliseconds()
	turn.SessionAfter.AdvanceTurn(turn.TurnNumber, now)

	// The turn is recorded even when the client is gone, so its outcome is
	// never lost; that write gets its own short deadline, which counts from
	// now.
	if err := uc.commit(detached, p.lease.Token(), turn, &p.commitCtx, now); err != nil {
		return uc.commitFailed(ctx, turn, runErr, err)
	}
	if runErr != nil {
		return nil, runErr
	}
	p.result.of(turn)
	p.reclaimSpace()
	return &p.result, nil
}

// runEngine runs the engine on the prepared turn under turnCtx, its
// deltas going to p.record.
func (p *PreparedTurn) runEngine(turnCtx context.Context) (*ports.TurnOutcome, error) {
	return p.uc.engine.RunTurn(turnCtx, ports.TurnInput{
		Policy:     p.policy,
		Session:    p.session,
		TurnNumber: p.lease.Token().TurnNumber,
		TurnID:     p.turn.ID,
		Message:    p.turn.Message,
		Metadata:   p.turn.Metadata,
		History:    p.history,
		RequestID:  p.turn.RequestID,
	}, p.record)
}

// settle settles the turn's pass with what it spent. A budget's pass made
// by a gate that goes by uc.clock (gateClock) counts the turn in the month
// of ended, uc.clock's reading when the run ended, which saves the gate a
// reading of its own; any other pass settles as TurnPass.Settle.
func (p *PreparedTurn) settle(spent domain.TokenUsage, ended time.Time) {
	if p.uc.gateClock && p.pass == TurnPass(&p.budgetPass) {
		p.budgetPass.settleAt(spent, ended)
		return
	}
	p.pass.Settle(spent)
}

// record releases reply text: it keeps it for the turn record and hands
// it to the run's sink.
func (p *PreparedTurn) record(d string) error {
	p.turn.Deltas = append(p.turn.Deltas, d)
	if err := p.sink(d); err != nil {
		return &clientGoneError{err: err}
	}
	return nil
}

// outcome fills turn from what the engine returned, and returns the
// error the caller sees, if any.
func (p *PreparedTurn) outcome(ctx context.Context, turn *domain.Turn, out *ports.TurnOutcome, runErr error, timedOut bool) error {
	if runErr == nil {
		turn.Status = domain.TurnCompleted
		turn.Response = out.Response
		turn.Explanation, turn.Usage, turn.Model, turn.Timings = out.Explanation, out.Usage, out.Model, out.Timings
		turn.SessionAfter = out.Session
		return nil
	}
	runErr = classifyRunError(runErr, ctx, timedOut)
	// A failed run explains nothing and timed no step: its record says so
	// with empty lists.
	turn.Explanation, turn.Timings = domain.NewExplanation(), []domain.StepTiming{}
	// What the client was sent before the failure, whole.
	turn.Response = strings.Join(turn.Deltas, "")
	turn.Status, turn.ErrorCode = domain.TurnFailed, domain.ErrorCodeOf(runErr)
	if ctx.Err() != nil || errors.As(runErr, new(*clientGoneError)) {
		// The client left: nothing failed, the turn just has no audience.
		turn.Status, turn.ErrorCode = domain.TurnInterrupted, ""
	}
	turn.SessionAfter = p.session.Clone()
	return runErr
}

// commit writes the turn record. A store that did not answer in time, or
// failed over mid-write, may still have applied it: reading the turn back
// settles that, and an attempt that did not land is tried again (with
// backoff; CommitTurn is idempotent by turn id, so a retry of a write
// that landed after all is harmless) until the store gives a definite
// answer or the deadline passes. So a turn that was committed is never
// reported failed (and its idempotency key never released for a retry
// that would run it twice) unless the store stays unreachable throughout.
// The first attempt runs under first, a zero context of the caller's.
// The commit starts at start, a reading of uc.clock the caller has just
// taken.
func (uc *ProcessMessage) commit(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn, first *deadlineContext, start time.Time) error {
	ctx = detach(ctx)
	// The first attempt needs no budget of its own (its write and read-back
	// take at most one CommitTimeout each) and almost always settles the
	// commit, so the retry loop, its backoff and its deadline are only set
	// up when the store was unreachable. Its timeout counts from the
	// commit's start: one reading of the clock for both.
	err := uc.tryCommit(ctx, lease, turn, uc.commitAttempt(first, ctx, start))
	if !domain.IsCode(err, domain.CodeStoreUnavailable) {
		return err
	}
	return uc.retryCommit(ctx, lease, turn, start, err)
}

// retryCommit goes on with a commit whose first attempt, begun at start,
// failed with first: it backs off, then tries again until the store gives
// a definite answer (the turn landed, or a refusal such as SESSION_BUSY)
// or the budget of two CommitTimeouts from start is spent. The waits are
// backoff's exponential ones with their jitter (20 ms doubling to 500 ms,
// each ±50 %). The budget, the waits and the attempts' deadlines all go by
// uc.clock, so a test on a fake clock drives them by advancing it:
// backoff.Retry would time them on the machine's clock (its timer cannot
// be replaced), so the loop is written out here.
func (uc *ProcessMessage) retryCommit(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn, start time.Time, first error) error {
	end := start.Add(2 * uc.cfg.CommitTimeout)
	// Attempts end with the budget; the loop itself stops before a wait
	// that would end past it (as backoff.Retry's MaxElapsedTime did), so
	// it returns the store's last answer, not a deadline of its own.
	budget, cancelBudget := uc.deadlineOn(ctx, end)
	defer cancelBudget()
	retry := &backoff.ExponentialBackOff{InitialInterval: 20 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 500 * time.Millisecond}
	retry.Reset()
	err := first
	for domain.IsCode(err, domain.CodeStoreUnavailable) {
		wait := retry.NextBackOff()
		if uc.clock.Now().Add(wait).After(end) {
			return err
		}
		// ctx is detached, so in practice only the clock ends the wait.
		select {
		case <-uc.clock.After(wait):
		case <-ctx.Done():
			return err
		}
		err = uc.tryCommit(budget, lease, turn, uc.commitAttempt(nil, budget, uc.clock.Now()))
	}
	return err
}

// tryCommit is one attempt: the write, and when its outcome is unknown, a
// read of the turn. The write runs under attempt, a CommitTimeout under
// ctx started by the caller, which tryCommit stops.
func (uc *ProcessMessage) tryCommit(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn, attempt attemptContext) error {
	defer attempt.stop()
	err := uc.turns.CommitTurn(attempt, lease, turn)
	if err == nil || !domain.IsCode(err, domain.CodeStoreUnavailable) {
		return err
	}
	check, cancelCheck := uc.deadlineOn(ctx, uc.clock.Now().Add(uc.cfg.CommitTimeout))
	defer cancelCheck()
	if stored, getErr := uc.turns.GetTurn(check, turn.TenantID, turn.ID); getErr == nil && stored.ID == turn.ID {
		return nil
	}
	return err
}

// commitAttempt is the deadline of a commit attempt begun at start, a
// reading of uc.clock: CommitTimeout later. On the machine's clock it is
// made in first, a zero context of the caller's (a new one when nil),
// which costs the turn no allocation; on another clock it is
// withClockDeadline's.
func (uc *ProcessMessage) commitAttempt(first *deadlineContext, parent context.Context, start time.Time) attemptContext {
	if uc.machineClock {
		return startTimeoutAt(first, parent, uc.cfg.CommitTimeout, start)
	}
	return withClockDeadline(parent, uc.clock, start.Add(uc.cfg.CommitTimeout))
}

// deadlineOn is context.WithDeadline(parent, at) with at a time of
// uc.clock: the standard one on the machine's clock, and on another (a
// test's fake) one that ends when that clock passes at.
func (uc *ProcessMessage) deadlineOn(parent context.Context, at time.Time) (context.Context, context.CancelFunc) {
	if uc.machineClock {
		return context.WithDeadline(parent, at)
	}
	c := withClockDeadline(parent, uc.clock, at)
	return c, c.stop
}

// newTurn completes the turn record Prepare began, with the pieces of
// text released (outcome sets its response, explanation and timings: the
// engine's, or what was released and empty lists).
func (p *PreparedTurn) newTurn() *domain.Turn {
	t := &p.turn
	t.AgentVersion = p.policy.Agent.Version
	t.SessionID = p.session.ID
	t.TurnNumber = p.lease.Token().TurnNumber
	return t
}

// keepLease renews the turn's lease every third of its TTL until stopped,
// so only a holder that stopped (it died, or lost the store) loses it. A
// renewal that fails is tried at the next tick; one refused (the lease was
// taken over) ends the renewals: the commit will be refused too. The
// renewals live in the prepared turn, under p.detached: p.keeper.stop
// ends them.
func (p *PreparedTurn) keepLease() {
	p.keeper.startPooled(p.uc.clock, p.uc.cfg.LeaseTTL/3, p, &p.uc.renewSlots)
}

// renew renews the lease (the turn is its keeper's renewal, which saves a
// closure per turn) and reports whether to go on.
func (p *PreparedTurn) renew() bool {
	return !domain.IsCode(p.lease.Renew(&p.detached), domain.CodeSessionBusy)
}

// commitFailed answers a turn whose commit did not succeed: with the turn
// that answered its keyed request first, if one did; with the run's own
// error; or, when the store confirmed neither way, with an unknown outcome
// naming the turn (never "failed": it may have been committed).
func (uc *ProcessMessage) commitFailed(ctx context.Context, turn *domain.Turn, runErr, err error) (*ChatResult, error) {
	if res, ok := uc.answeredTurn(ctx, turn.TenantID, err); ok {
		return res, nil
	}
	if runErr != nil {
		return nil, runErr
	}
	if domain.IsCode(err, domain.CodeStoreUnavailable) {
		return nil, domain.UnknownOutcome(turn.ID, err)
	}
	return nil, err
}

// detach is ctx without its cancellation, as context.WithoutCancel gives
// it, or ctx itself when nothing can cancel it (a context detached already).
func detach(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// clientGoneError marks a failure to deliver text to the client: the turn
// was interrupted, not failed.
type clientGoneError struct{ err error }

func (e *clientGoneError) Error() string { return "client went away: " + e.err.Error() }
func (e *clientGoneError) Unwrap() error { return e.err }

// classifyRunError turns a turn deadline into TIMEOUT; other errors keep
// their code.
func classifyRunError(err error, ctx context.Context, timedOut bool) error {
	if timedOut {
		return domain.WrapError(domain.CodeTimeout, err, "the turn did not finish within its deadline")
	}
	if ctx.Err() != nil {
		return fmt.Errorf("turn interrupted: %w", context.Cause(ctx))
	}
	return err
}

// ResultOf builds the client's view of a committed turn.
func ResultOf(t *domain.Turn) *ChatResult {
	r := new(ChatResult)
	r.of(t)
	return r
}

// of sets r, a zero result, to the client's view of the committed turn t.
func (r *ChatResult) of(t *domain.Turn) {
	*r = ChatResult{
		Response:     t.Response,
		SessionID:    t.SessionID,
		TurnID:       t.ID,
		Scenario:     t.Explanation.Scenario.After,
		MatchedRules: make([]string, 0, len(t.Explanation.Matched)),
		ToolsCalled:  []string{},
		TokensUsed:   t.Usage.Total(),
		LatencyMS:    t.LatencyMS,
		Usage:        t.Usage,
	}
	for _, m := range t.Explanation.Matched {
		r.MatchedRules = append(r.MatchedRules, m.RuleID)
	}
	for _, c := range t.Explanation.ToolCalls {
		if c.Error == "" {
			r.ToolsCalled = append(r.ToolsCalled, c.ToolID)
		}
	}
}

// Chat runs a whole turn and returns the reply: Prepare then Run with a
// sink that only collects.
func (uc *ProcessMessage) Chat(ctx context.Context, cmd ChatCommand) (*ChatResult, error) {
	p, err := uc.Prepare(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx, func(string) error { return nil })
}
