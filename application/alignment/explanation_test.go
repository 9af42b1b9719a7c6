package alignment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

func stepNames(ts []domain.StepTiming) []string {
	var out []string
	for _, s := range ts {
		out = append(out, s.Step)
	}
	return out
}

func TestExplanationRecordsTheTurn(t *testing.T) {
	tools := newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"years": 2}})
	m := newFakeModel(say("A lifetime warranty!"), say("Your warranty lasts two years."))
	h := newHarness(t, promptPolicy(), m, withTools(tools))
	r := h.run("I have a warranty claim")
	e := r.exp()

	assert.Equal(t, domain.RetrievalLexical, e.Retrieval.Mode)
	require.NotEmpty(t, e.Candidates)
	for _, c := range e.Candidates {
		assert.Greater(t, c.Score, 0.0, c.RuleID)
		assert.Equal(t, c.Score, c.Lexical, "lexical retrieval: the score is the lexical score")
		if c.Matched {
			assert.Equal(t, "I have a warranty claim", c.Example, "a match names the example it is most like")
			assert.Contains(t, c.Terms, "warranty")
		}
	}
	soft, _ := candidate(e, "soft")
	assert.True(t, soft.Matched)
	assert.Equal(t, int32(1), soft.Priority)

	require.Equal(t, []string{"soft", "hardm"}, matchedIDs(e))
	for _, mt := range e.Matched {
		assert.Contains(t, mt.Reason, "threshold")
		assert.Contains(t, mt.Reason, `"I have a warranty claim"`)
		assert.Greater(t, mt.Score, 0.0)
	}

	assert.Equal(t, domain.ScenarioDecision{Action: domain.ScenarioStart, After: &domain.ScenarioRef{ID: "claims", Step: "collect"},
		Score: e.Scenario.Score, Reason: e.Scenario.Reason, Options: []domain.ScenarioOption{{Move: domain.MoveStart, Target: "claims",
			Score: e.Scenario.Score, Lexical: e.Scenario.Score, Example: "I have a warranty claim"}}}, e.Scenario)
	assert.NotEmpty(t, e.Scenario.Reason)

	require.Len(t, e.ToolCalls, 1)
	assert.Equal(t, "lookup", e.ToolCalls[0].ToolID)
	assert.Equal(t, "soft", e.ToolCalls[0].RuleID)
	assert.Equal(t, map[string]any{"years": 2}, e.ToolCalls[0].Output)

	assert.Equal(t, domain.Generation{Source: domain.SourceModel, ModelCalls: 2}, e.Generation)
	assert.ElementsMatch(t, []string{"hardm", "ghard"}, e.Enforcement.Rules)
	require.Len(t, e.Enforcement.Violations, 1)
	assert.Equal(t, "hardm", e.Enforcement.Violations[0].RuleID)
	assert.Equal(t, 1, e.Enforcement.Regenerations)

	assert.Equal(t, []string{"policy", "embedding", "matching", "variables", "scenario", "retrieval", "tools", "generation"}, stepNames(r.Timings))
	for _, s := range r.Timings {
		assert.GreaterOrEqual(t, s.DurationMS, 0.0)
	}
	assert.Equal(t, "fake-1", r.Model)
	assert.Equal(t, domain.TokenUsage{Prompt: 10, Completion: 1}, r.Usage, "a stream stopped mid-way reports no usage")
}

func TestExplanationTimesTheRuleJudge(t *testing.T) {
	m := newFakeModel(say("Hello.")).answerJSON(say(`{"applicable": ["ret"]}`))
	h := newHarness(t, judgedPolicy(true), m)
	r := h.run("return my order")
	assert.Equal(t, []string{"policy", "embedding", "matching", "variables", "scenario", "retrieval", "rule_judge", "tools", "generation"},
		stepNames(r.Timings))
}

// tickingClock moves on a millisecond at each reading, and counts them;
// its timers are the system's.
type tickingClock struct {
	clock.System
	mu    sync.Mutex
	now   time.Time
	reads int
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	c.reads++
	return c.now
}

// The steps tile the run: the clock is read at the turn's start, at the
// end of each step that ran and around each tool call, and nothing else.
// So on a clock that ticks once a reading every step that ran took a tick
// or more, one that had nothing to do (no embedder, no tool) none, and
// together they took every tick of the run.
func TestStepTimingsTileTheRunOneReadingAStep(t *testing.T) {
	cases := []struct {
		name           string
		policy         func() *domain.Policy
		deps           []func(*Deps)
		message        string
		skipped        []string
		toolCalls, ran int
	}{
		{name: "by score", policy: func() *domain.Policy { return judgedPolicy(false) }, message: "return my order",
			skipped: []string{"embedding", "tools"}},
		{name: "judged", policy: func() *domain.Policy { return judgedPolicy(true) }, message: "return my order",
			skipped: []string{"embedding", "tools"}},
		{name: "a tool", policy: promptPolicy, message: "I have a warranty claim", toolCalls: 1, skipped: []string{"embedding"},
			deps: []func(*Deps){withTools(newFakeTools().on("lookup", toolBehaviour{out: map[string]any{"years": 2}}))}},
		{name: "embedded", policy: func() *domain.Policy { return semanticPolicy(1) }, message: "I want to talk to a human",
			skipped: []string{"tools"}, deps: []func(*Deps){withEmbedder(semanticEmbedder(semanticPolicy(1)))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &tickingClock{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
			m := newFakeModel(say("Hello."), say("Two years.")).answerJSON(say(`{"applicable": ["ret"]}`))
			h := newHarness(t, tc.policy(), m, append(tc.deps, func(d *Deps) { d.Clock = clk })...)
			r := h.run(tc.message)
			require.Len(t, r.Explanation.ToolCalls, tc.toolCalls)
			total, ran := 0.0, 0
			for _, s := range r.Timings {
				if slices.Contains(tc.skipped, s.Step) {
					assert.Zero(t, s.DurationMS, s.Step)
					continue
				}
				assert.GreaterOrEqual(t, s.DurationMS, 1.0, s.Step)
				total += s.DurationMS
				ran++
			}
			assert.Equal(t, 1+ran+2*tc.toolCalls, clk.reads)
			assert.Equal(t, float64(clk.reads-1), total, "the steps took the whole run")
		})
	}
}

// On the machine's clock a run is timed from the time its caller says it
// began it (TurnSpace.BeganAt), where its first step would have read the
// clock, and each step's end is its start plus the time since: together
// the steps took no more than the run from that start.
func TestStepTimingsCountFromTheLentStartOnTheMachineClock(t *testing.T) {
	h := newHarness(t, judgedPolicy(false), newFakeModel(say("Hello.")))
	require.True(t, h.engine.machineClock)
	space := new(TurnSpace)
	began := time.Now().Add(-time.Hour)
	space.BeganAt(began)
	out, err := h.engine.RunTurn(lending{Context: context.Background(), space: space}, ports.TurnInput{Policy: h.policy,
		Session: h.session, TurnNumber: 1, Message: "return my order"}, func(string) error { return nil })
	end := time.Now()
	require.NoError(t, err)
	require.Equal(t, "policy", out.Timings[0].Step)
	assert.GreaterOrEqual(t, out.Timings[0].DurationMS, float64(time.Hour.Milliseconds()), "the first step ran from the lent start")
	total := 0.0
	for _, s := range out.Timings {
		assert.GreaterOrEqual(t, s.DurationMS, 0.0, s.Step)
		total += s.DurationMS
	}
	assert.LessOrEqual(t, total, ms(end.Sub(began)), "the steps took no more than the run")
}

func TestPolicyCompiledOncePerVersion(t *testing.T) {
	h := newHarness(t, testPolicy(globalRule("a", "alpha", "A.")), newFakeModel(say("ok")))
	h.run("alpha")
	first, ok := h.engine.compiled.Get(compiledKeyOf(h.policy, false))
	require.True(t, ok)
	h.run("alpha")
	again, _ := h.engine.compiled.Get(compiledKeyOf(h.policy, false))
	assert.Same(t, first, again)

	changed := testPolicy(globalRule("b", "beta", "B."))
	changed.Agent.Version = 2
	h.policy = changed
	r := h.run("beta")
	assert.Equal(t, []string{"b"}, matchedIDs(r.exp()), "a new version is compiled anew")
}

func TestRunTurnErrors(t *testing.T) {
	t.Run("missing dependencies", func(t *testing.T) {
		_, err := New(Deps{})
		assert.Error(t, err)
	})
	t.Run("sink error stops the turn", func(t *testing.T) {
		h := newHarness(t, testPolicy(), newFakeModel(say("one ", "two")))
		sinkErr := domain.Errorf(domain.CodeInternal, "client went away")
		_, err := h.engine.RunTurn(context.Background(), ports.TurnInput{Policy: h.policy, Session: h.session,
			TurnNumber: 1, Message: "hi"}, func(string) error { return sinkErr })
		assert.ErrorIs(t, err, sinkErr)
	})
	t.Run("cancelled context", func(t *testing.T) {
		h := newHarness(t, testPolicy(), newFakeModel(say("one ", "two")))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.engine.RunTurn(ctx, ports.TurnInput{Policy: h.policy, Session: h.session, TurnNumber: 1, Message: "hi"},
			func(string) error { return nil })
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("policy that cannot compile", func(t *testing.T) {
		p := testPolicy(hardRule("bad", "x", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: "("}))
		eng, err := New(Deps{Model: newFakeModel(), History: newHarness(t, testPolicy(), newFakeModel()).store, Clock: clock.System{}})
		require.NoError(t, err)
		_, err = eng.RunTurn(context.Background(), ports.TurnInput{Policy: p, Session: &domain.Session{ID: "s"}, TurnNumber: 1,
			Message: "x"}, func(string) error { return nil })
		assert.Equal(t, domain.CodeInternal, domain.ErrorCodeOf(err))
	})
}

// A turn's candidate list goes back to a pool once its rules are selected,
// for the next turn to fill: the candidates and matches a turn recorded
// (scores, terms, examples) must stay as they were while later turns run.
func TestRecordedCandidatesOutliveTheTurn(t *testing.T) {
	p := testPolicy(
		globalRule("hours", "opening hours", "ACTION-HOURS", "when do you open", "what are your opening hours"),
		globalRule("refund", "refund request", "ACTION-REFUND", "I want my money back", "can I get a refund"),
		globalRule("damaged", "damaged item", "ACTION-DAMAGED", "the item arrived broken", "it came damaged"),
	)
	h := newHarness(t, p, newFakeModel(say("ok")))
	messages := []string{"when do you open on sunday", "I want a refund for the broken item",
		"it came damaged, money back please", "what are your opening hours"}
	recorded := func(e domain.Explanation) string {
		b, err := json.Marshal(struct {
			C []domain.RuleCandidate
			M []domain.RuleMatch
		}{e.Candidates, e.Matched})
		require.NoError(t, err)
		return string(b)
	}
	var kept []domain.Explanation
	var want []string
	for round := range 3 {
		for _, msg := range messages {
			r, err := h.try(msg)
			require.NoError(t, err)
			if round == 0 {
				require.NotEmpty(t, r.Explanation.Candidates, msg)
				for _, c := range r.Explanation.Candidates {
					require.NotEmpty(t, c.RuleID, "%q's record names its candidates", msg)
					require.Greater(t, c.Score, 0.0, "%q's record scores its candidates", msg)
				}
				kept, want = append(kept, r.Explanation), append(want, recorded(r.Explanation))
			}
		}
	}
	for i, e := range kept {
		assert.Equal(t, want[i], recorded(e), "%q's record after %d more turns", messages[i], 3*len(messages)-i-1)
	}
}

// matchReason writes, byte for byte, what the explanation's Sprintf wrote:
// the reasons are part of every stored turn record.
func TestMatchReasonIsSprintf(t *testing.T) {
	sprintf := func(m domain.RuleCandidate, judged bool, threshold float64) string {
		switch {
		case judged && m.Example != "":
			return fmt.Sprintf("rule judge found it applicable (score %.2f); most like the example %q", m.Score, m.Example)
		case judged:
			return fmt.Sprintf("rule judge found it applicable (score %.2f)", m.Score)
		case m.Example != "":
			return fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f; most like the example %q", m.Score, threshold, m.Example)
		default:
			return fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f", m.Score, threshold)
		}
	}
	scores := []float64{0, 0.005, 0.125, 0.994, 0.995, 1, -0.001, -0.5, 12345.678, math.Inf(1), math.Inf(-1), math.NaN()}
	examples := []string{"", "where is my card", `say "hi"\now`, `back\slash`, `a "quote"`, "tab\there", "del\x7f", "~ ok!", "café ☕ \x00\u2028", "\xff broken utf-8", strings.Repeat("long example ", 40)}
	for _, score := range scores {
		for _, example := range examples {
			for _, judged := range []bool{false, true} {
				m := domain.RuleCandidate{RuleID: "r", Score: score, Example: example}
				threshold := 1 - score
				assert.Equal(t, sprintf(m, judged, threshold), matchReason(m, judged, threshold), "score %v, example %q, judged %v", score, example, judged)
			}
		}
	}
}
