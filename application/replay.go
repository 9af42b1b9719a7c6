package application

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"focal/domain"
	"focal/ports"
)

// Bounds of one replay.
const (
	// MaxReplaySessions is the most sessions one replay takes.
	MaxReplaySessions = 100
	// MaxReplayTurns is the most turns one replay runs; sessions past it
	// are cut short and the report says so.
	MaxReplayTurns = 5000
)

// Models a replay may run with.
const (
	ReplayModelOffline    = "offline"    // templates only: deterministic, free
	ReplayModelConfigured = "configured" // the service's chat model, as live turns use it
)

// ReplayEngines builds the engine of one replay: it reads history from
// history and calls tools through tools (the replay's sandbox), and uses
// the service's chat model when configured is true, else the offline one.
type ReplayEngines func(history ports.TurnStore, tools ports.ToolInvoker, configured bool) (ports.Engine, error)

// ReplayCommand asks for recorded turns of an agent's sessions to be run
// again against a candidate policy.
type ReplayCommand struct {
	TenantID string
	AgentID  string
	// Version names a stored version as the candidate; or Bundle (YAML or
	// JSON) is the candidate. Exactly one of them.
	Version int64
	Bundle  []byte
	// SessionIDs names the sessions, or LastSessions asks for the agent's
	// newest ones. Exactly one of them.
	SessionIDs   []string
	LastSessions int
	// Model is ReplayModelOffline (the default) or ReplayModelConfigured.
	Model     string
	RequestID string
}

func (c *ReplayCommand) validate() error {
	var bad []domain.FieldError
	switch {
	case c.Version != 0 && c.Bundle != nil:
		bad = append(bad, domain.FieldError{Field: "version", Message: "give a version or a bundle, not both"})
	case c.Version < 0:
		bad = append(bad, domain.FieldError{Field: "version", Message: "must be a version number from 1"})
	case c.Version == 0 && c.Bundle == nil:
		bad = append(bad, domain.FieldError{Field: "version", Message: "a version or a bundle is required: the candidate policy"})
	}
	switch {
	case len(c.SessionIDs) > 0 && c.LastSessions != 0:
		bad = append(bad, domain.FieldError{Field: "sessions", Message: "give session ids or a number of last sessions, not both"})
	case len(c.SessionIDs) == 0 && c.LastSessions == 0:
		bad = append(bad, domain.FieldError{Field: "sessions", Message: "session ids or a number of last sessions are required"})
	case len(c.SessionIDs) > MaxReplaySessions:
		bad = append(bad, domain.FieldError{Field: "sessions.ids", Message: fmt.Sprintf("at most %d sessions", MaxReplaySessions)})
	case c.LastSessions < 0 || c.LastSessions > MaxReplaySessions:
		bad = append(bad, domain.FieldError{Field: "sessions.last", Message: fmt.Sprintf("must be 1..%d", MaxReplaySessions)})
	}
	for i, id := range c.SessionIDs {
		if !IsUUID(id) {
			bad = append(bad, domain.FieldError{Field: fmt.Sprintf("sessions.ids[%d]", i), Message: "must be a UUID"})
		}
	}
	switch c.Model {
	case "":
		c.Model = ReplayModelOffline
	case ReplayModelOffline, ReplayModelConfigured:
	default:
		bad = append(bad, domain.FieldError{Field: "model", Message: "must be offline or configured"})
	}
	if len(bad) > 0 {
		return domain.InvalidFields(bad...)
	}
	return nil
}

// Replay is the replay use case: it re-runs each recorded user message of
// some sessions through the engine, in process, with a candidate policy,
// and compares what the agent did then and would do now. It writes
// nothing: the replayed session state evolves in memory from the state
// before the first replayed turn, history comes from the replay itself,
// and tools answer with the recorded turn's outputs.
type Replay struct {
	policies ports.PolicyStore
	history  ports.PolicyHistory
	sessions ports.SessionStore
	turns    ports.TurnStore
	engines  ReplayEngines
	limits   domain.PolicyLimits
}

// NewReplay wires the replay use case.
func NewReplay(policies ports.PolicyStore, history ports.PolicyHistory, sessions ports.SessionStore, turns ports.TurnStore,
	engines ReplayEngines) (*Replay, error) {
	if policies == nil || history == nil || sessions == nil || turns == nil || engines == nil {
		return nil, errors.New("replay: every dependency is required")
	}
	return &Replay{policies: policies, history: history, sessions: sessions, turns: turns, engines: engines,
		limits: domain.DefaultPolicyLimits()}, nil
}

// WithLimits holds an inline candidate bundle to the limits a stored
// policy keeps within; call it before serving.
func (r *Replay) WithLimits(limits domain.PolicyLimits) *Replay {
	r.limits = limits
	return r
}

// Run replays the sessions cmd names and reports every turn.
//
// Errors: INVALID_REQUEST (the command, or an invalid bundle),
// AGENT_NOT_FOUND, NOT_FOUND (no such version), SESSION_NOT_FOUND (a
// named session of another agent or tenant), STORE_UNAVAILABLE,
// INTERNAL_ERROR, and ctx's error. A turn whose replay fails (a model
// error) is reported with its error; the others go on.
func (r *Replay) Run(ctx context.Context, cmd ReplayCommand) (*ReplayReport, error) {
	if !IsUUID(cmd.AgentID) {
		return nil, agentNotFound(cmd.AgentID)
	}
	if err := cmd.validate(); err != nil {
		return nil, err
	}
	candidate, err := r.candidate(ctx, cmd)
	if err != nil {
		return nil, err
	}
	sessions, err := r.selectSessions(ctx, cmd)
	if err != nil {
		return nil, err
	}
	sandbox := newReplaySandbox()
	engine, err := r.engines(sandbox, sandbox, cmd.Model == ReplayModelConfigured)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "the replay engine cannot be built")
	}
	report := &ReplayReport{AgentID: cmd.AgentID, Candidate: ReplayCandidate{Source: "bundle"}, Model: cmd.Model,
		Sessions: []ReplayedSession{}, Summary: ReplaySummary{ByKind: map[string]int{}}}
	if cmd.Bundle == nil {
		v := candidate.Agent.Version
		report.Candidate = ReplayCandidate{Source: "version", Version: &v}
	}
	left := MaxReplayTurns
	for _, s := range sessions {
		recorded, cut, err := r.recorded(ctx, s, left)
		if err != nil {
			return nil, err
		}
		report.Summary.Truncated = report.Summary.Truncated || cut
		rs, err := r.replaySession(ctx, engine, sandbox, candidate, s, recorded, cmd.RequestID)
		if err != nil {
			return nil, err
		}
		for _, t := range rs.Turns {
			report.Summary.add(t)
		}
		left -= len(recorded)
		report.Sessions = append(report.Sessions, rs)
		report.Summary.Sessions++
		if left <= 0 {
			report.Summary.Truncated = report.Summary.Truncated || len(report.Sessions) < len(sessions)
			break
		}
	}
	return report, nil
}

// candidate reads the candidate policy: a stored version, or the bundle
// made into a policy of the agent.
func (r *Replay) candidate(ctx context.Context, cmd ReplayCommand) (*domain.Policy, error) {
	if cmd.Bundle == nil {
		return r.history.GetPolicyVersion(ctx, cmd.TenantID, cmd.AgentID, cmd.Version)
	}
	if _, err := r.policies.AgentVersion(ctx, cmd.TenantID, cmd.AgentID); err != nil {
		return nil, err
	}
	p, err := parseBundleAlone(ctx, cmd.Bundle, r.limits)
	if err != nil {
		return nil, inBundle(err)
	}
	if p.Agent.ID != "" && !strings.EqualFold(p.Agent.ID, cmd.AgentID) {
		return nil, domain.InvalidFields(domain.FieldError{Field: "bundle.agent.id", Message: "must be empty or the agent being replayed, " + cmd.AgentID})
	}
	p.Agent.ID, p.Agent.TenantID, p.Agent.Version = cmd.AgentID, cmd.TenantID, 0
	if err := ValidatePolicyWithin(p, r.limits); err != nil {
		return nil, inBundle(err)
	}
	return p, nil
}

// inBundle names the fields of a bundle's validation error as fields of
// the replay command's bundle.
func inBundle(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeInvalidRequest {
		return err
	}
	out := *de
	out.Details = make([]domain.FieldError, len(de.Details))
	for i, d := range de.Details {
		d.Field = "bundle." + d.Field
		out.Details[i] = d
	}
	return &out
}

// selectSessions finds the sessions to replay: the named ones, which must
// be the agent's, or the agent's newest.
func (r *Replay) selectSessions(ctx context.Context, cmd ReplayCommand) ([]*domain.Session, error) {
	var out []*domain.Session
	for _, id := range cmd.SessionIDs {
		s, err := r.sessions.GetSession(ctx, cmd.TenantID, strings.ToLower(id))
		if err != nil {
			return nil, err
		}
		if s.AgentID != cmd.AgentID {
			return nil, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", id)
		}
		out = append(out, s)
	}
	q := ports.SessionQuery{AgentID: cmd.AgentID, Page: ports.PageRequest{Limit: min(cmd.LastSessions, ports.MaxPageSize)}}
	for len(out) < cmd.LastSessions {
		page, err := r.sessions.ListSessions(ctx, cmd.TenantID, q)
		if err != nil {
			return nil, err
		}
		for i := range page.Items {
			if len(out) < cmd.LastSessions {
				out = append(out, &page.Items[i])
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Page.Cursor = page.NextCursor
	}
	return out, nil
}

// recorded reads at most limit of the session's turns, oldest first, and
// reports whether some were left out.
func (r *Replay) recorded(ctx context.Context, s *domain.Session, limit int) ([]domain.Turn, bool, error) {
	var out []domain.Turn
	q := ports.TurnQuery{Order: ports.OrderAsc, Page: ports.PageRequest{Limit: ports.MaxPageSize}}
	for {
		page, err := r.turns.ListTurns(ctx, s.TenantID, s.ID, q)
		if err != nil {
			return nil, false, err
		}
		for _, t := range page.Items {
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, t)
		}
		if page.NextCursor == "" {
			return out, false, nil
		}
		q.Page.Cursor = page.NextCursor
	}
}

// replaySession runs the recorded turns of one session through engine with
// the candidate policy. The state starts as it was before the first turn:
// a new session when the first turn is kept, else (older turns were
// dropped by retention) the state after the oldest kept turn, which is
// then not replayed itself.
func (r *Replay) replaySession(ctx context.Context, engine ports.Engine, sandbox *replaySandbox, candidate *domain.Policy,
	live *domain.Session, recorded []domain.Turn, requestID string) (ReplayedSession, error) {
	out := ReplayedSession{SessionID: live.ID, Turns: []ReplayedTurn{}}
	if len(recorded) == 0 {
		return out, nil
	}
	sandboxID := uuid.NewString()
	state := domain.NewSession(sandboxID, live.Key(), live.CreatedAt)
	if first := recorded[0]; first.TurnNumber > 1 && first.SessionAfter != nil {
		state = first.SessionAfter.Clone()
		state.ID = sandboxID
		sandbox.remember(sandboxID, first.History())
		recorded = recorded[1:]
	}
	for i := range recorded {
		rec := &recorded[i]
		if err := ctx.Err(); err != nil {
			return out, err
		}
		sandbox.begin(sandboxID, rec)
		res, err := engine.RunTurn(ctx, ports.TurnInput{Policy: candidate, Session: state, TurnNumber: rec.TurnNumber,
			Message: rec.Message, RequestID: requestID}, func(string) error { return nil })
		t := ReplayedTurn{TurnID: rec.ID, TurnNumber: rec.TurnNumber, Message: rec.Message,
			Expect: expectationOf(rec.Metadata), Before: viewOf(rec.Response, &rec.Explanation)}
		entry := domain.HistoryEntry{TurnNumber: rec.TurnNumber, Message: rec.Message, Status: domain.TurnCompleted}
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			exp := domain.NewExplanation()
			t.After, t.Changed, t.Error = viewOf("", &exp), []string{ChangeError}, domain.ErrorCodeOf(err).String()+": "+errorMessage(err)
			state = state.Clone() // a failed turn leaves the state as it was
			entry.Status = domain.TurnFailed
		} else {
			t.After = viewOf(res.Response, &res.Explanation)
			t.Changed = changes(t.Before, t.After)
			state = res.Session
			entry.Response = res.Response
			if after := res.Explanation.Scenario.After; after != nil {
				entry.Scenario = *after
			}
		}
		t.ExpectationBroken = broken(t.Expect, t.Changed)
		state.AdvanceTurn(rec.TurnNumber, rec.CreatedAt)
		sandbox.remember(sandboxID, entry)
		out.Turns = append(out.Turns, t)
	}
	return out, nil
}

// errorMessage is the client-safe message of err.
func errorMessage(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return "internal error"
}
