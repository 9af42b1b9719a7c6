package alignment

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

const (
	testTenant = "tenant-1"
	testAgent  = "agent-1"
	testPrompt = "You are Ada, the shop's assistant."
)

// testPolicy is an agent with the given rules and nothing else; tests add
// scenarios, templates and tools as they need them.
func testPolicy(rules ...domain.Rule) *domain.Policy {
	return &domain.Policy{
		Agent: domain.Agent{ID: testAgent, TenantID: testTenant, Name: "Ada", SystemPrompt: testPrompt,
			Enabled: true, Version: 1},
		Rules: rules,
	}
}

// globalRule is an enabled global rule; examples, when given, teach its
// condition beside the condition text.
func globalRule(id, condition, action string, examples ...string) domain.Rule {
	return domain.Rule{ID: id, Condition: condition, Examples: examples, Action: action, Scope: domain.ScopeGlobal, Enabled: true}
}

// hardRule is a global hard rule with constraints.
func hardRule(id, condition string, cs ...domain.Constraint) domain.Rule {
	r := globalRule(id, condition, "obey "+id)
	r.Hard, r.Constraints = true, cs
	return r
}

func forbid(phrase string) domain.Constraint {
	return domain.Constraint{Kind: domain.ConstraintForbidPhrase, Value: phrase}
}

func tpl(id string, mode domain.TemplateMode, text string) domain.Template {
	return domain.Template{ID: id, Mode: mode, Text: text}
}

func intp(n int) *int { return &n }

// harness runs turns of one session through a fresh engine and commits
// each into the memory store, as the use case would.
type harness struct {
	t       testing.TB
	policy  *domain.Policy
	model   *fakeModel
	store   *memory.Store
	engine  *Engine
	session *domain.Session
	// onDelta, when set, sees every delta as the sink receives it.
	onDelta func(string)
	// meta is the request metadata every turn carries.
	meta map[string]any
}

func newHarness(t testing.TB, p *domain.Policy, m *fakeModel, opts ...func(*Deps)) *harness {
	t.Helper()
	require.Empty(t, p.Validate(), "test policy must be valid")
	for _, r := range p.Rules {
		for _, c := range r.Constraints {
			if c.Kind == domain.ConstraintExpression {
				require.NoError(t, CompileExpression(c.Value, domain.DefaultPolicyLimits()))
			}
		}
	}
	store := memory.New(clock.System{})
	d := Deps{Model: m, History: store, Clock: clock.System{}}
	for _, o := range opts {
		o(&d)
	}
	eng, err := New(d)
	require.NoError(t, err)
	key := domain.ChannelKey{TenantID: testTenant, AgentID: testAgent, Channel: "web", UserChannelID: "u-1"}
	l, err := store.LockSession(context.Background(), ports.LockRequest{TenantID: testTenant,
		Candidate: domain.NewSession("session-1", key, time.Now()), Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, l.Release(context.Background()))
	return &harness{t: t, policy: p, model: m, store: store, engine: eng, session: l.Session()}
}

func withEmbedder(e *fakeEmbedder) func(*Deps) { return func(d *Deps) { d.Embedder = e } }
func withTools(f *fakeTools) func(*Deps)       { return func(d *Deps) { d.Tools = f } }

// turnResult is one turn's outcome and every delta its sink received.
type turnResult struct {
	*ports.TurnOutcome
	deltas []string
}

func (r turnResult) exp() domain.Explanation { return r.Explanation }

// try runs one turn without committing it.
func (h *harness) try(msg string) (turnResult, error) {
	var deltas []string
	out, err := h.engine.RunTurn(context.Background(), ports.TurnInput{
		Policy: h.policy, Session: h.session, TurnNumber: h.session.TurnCount + 1, Message: msg, RequestID: "req",
		TurnID: fmt.Sprintf("turn-%d", h.session.TurnCount+1), Metadata: h.meta,
	}, func(d string) error {
		if h.onDelta != nil {
			h.onDelta(d)
		}
		deltas = append(deltas, d)
		return nil
	})
	return turnResult{TurnOutcome: out, deltas: deltas}, err
}

// run runs one turn, checks that the sink saw exactly the reply, and
// commits it.
func (h *harness) run(msg string) turnResult {
	h.t.Helper()
	r, err := h.try(msg)
	require.NoError(h.t, err)
	require.Equal(h.t, r.Response, strings.Join(r.deltas, ""), "the sink's deltas must add up to the reply")
	h.commit(msg, r.Response, r.Session)
	return r
}

// commit stores a completed turn with the given after-state.
func (h *harness) commit(msg, response string, after *domain.Session) {
	h.t.Helper()
	h.commitAs(domain.TurnCompleted, msg, response, after)
}

// commitAs stores a turn that ended with status.
func (h *harness) commitAs(status domain.TurnStatus, msg, response string, after *domain.Session) {
	h.t.Helper()
	n := h.session.TurnCount + 1
	after = after.Clone()
	after.AdvanceTurn(n, time.Now())
	turn := &domain.Turn{ID: fmt.Sprintf("turn-%d", n), TenantID: testTenant, AgentID: testAgent, SessionID: h.session.ID,
		TurnNumber: n, Message: msg, Response: response, Status: status, SessionAfter: after}
	l, err := h.store.LockSession(context.Background(), ports.LockRequest{TenantID: testTenant, SessionID: h.session.ID,
		Wait: time.Second, TTL: time.Minute})
	require.NoError(h.t, err)
	require.NoError(h.t, h.store.CommitTurn(context.Background(), l.Token(), turn))
	require.NoError(h.t, l.Release(context.Background()))
	s, err := h.store.GetSession(context.Background(), testTenant, h.session.ID)
	require.NoError(h.t, err)
	h.session = s
}

// matchedIDs are the turn's matched rule ids in prompt order.
func matchedIDs(e domain.Explanation) []string {
	out := []string{}
	for _, m := range e.Matched {
		out = append(out, m.RuleID)
	}
	return out
}

// systemMessage is the system prompt of a generation request.
func systemMessage(req ports.ChatRequest) string {
	if len(req.Messages) == 0 || req.Messages[0].Role != ports.RoleSystem {
		return ""
	}
	return req.Messages[0].Content
}
