//go:build !race

// The engine's long sequential tests: deferred explanations against eager
// ones and a lent turn space against a turn's own over hundreds of turns,
// the presence guards against the VM and the selection against ranking
// all over thousands of generated inputs, and what expressions allocate
// and cache, single-threaded work the race detector slows tenfold or more
// (56 s under it, 4 s without) and has nothing to find in. They build
// without it; make test runs them in a pass without -race
// (scripts/test.sh). The code they check runs under -race in the
// package's other tests.

package alignment

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

// A words-only turn that deferred its explanation, stored and read back
// through a RecordExplainer (over an engine that compiles the version
// afresh), is byte for byte the explanation the turn writes when it does
// not defer: over Banking77 messages and a scenario's short replies, on
// three versions of one agent. A record written whole reads back as it was.
func TestDeferredExplanationReadsBackAsEager(t *testing.T) {
	train, test := banking77Rows(t, "train"), banking77Rows(t, "test")
	small := orderPolicy()
	small.Agent.Version = 2
	v1, v3 := bankingVersion(train, 10, 1), bankingVersion(train, 30, 3)
	// A step with two ways back to one step, explained as the turn runs.
	help := &v3.Scenarios[0].Steps[1]
	help.Transitions = append(help.Transitions, domain.Transition{To: "pick", Condition: "go back",
		Examples: []string{"go back", "back to the products"}})
	// Matches past the best three, and the scenario started on an entry
	// that may score below them.
	v1.Agent.Settings.TopK, v1.Agent.Settings.MatchThreshold, v1.Agent.Settings.ScenarioEntryThreshold = 8, 0.02, 0.02
	history := &versionHistory{versions: map[int64]*domain.Policy{1: v1, 2: small, 3: v3}}
	fresh, err := New(Deps{Model: newFakeModel(), History: memory.New(clock.System{}), Clock: clock.System{}})
	require.NoError(t, err)
	reader, err := NewRecordExplainer(fresh, history)
	require.NoError(t, err)

	var seen struct{ turns, examples, terms, reasons, starts, matchedPast3, shortInFlow, stepExamples, contexts, twinSteps int }
	for _, v := range []int64{1, 2, 3} {
		p := history.versions[v]
		model := newFakeModel(say("Which one would you like?"))
		eager := newHarness(t, p, model)
		lazy := newHarness(t, p, model, func(d *Deps) { d.DeferExplanations = true })
		for _, msg := range deferredScript(test, 40) {
			inFlow := lazy.session.Scenario != nil
			want, got := eager.run(msg), lazy.run(msg)
			require.Equal(t, want.Response, got.Response, msg)
			require.False(t, want.Explanation.Retrieval.Deferred, msg)
			require.True(t, got.Explanation.Retrieval.Deferred, msg)
			for _, c := range got.Explanation.Candidates {
				require.True(t, c.Example == "" && c.Terms == nil, "the turn explained %s", c.RuleID)
			}
			twins := false
			if b := got.Explanation.Scenario.Before; b != nil && b.Step == "help" && v == 3 {
				twins = true
				seen.twinSteps++
			}
			for _, o := range got.Explanation.Scenario.Options {
				require.True(t, o.Example == "" || twins, "the turn explained its %s option", o.Move)
			}
			if got.Explanation.Retrieval.Context != "" {
				seen.contexts++
			}
			for _, o := range want.Explanation.Scenario.Options {
				if o.Move != domain.MoveStart && o.Example != "" {
					seen.stepExamples++
				}
			}

			rec := readBack(t, &domain.Turn{TenantID: testTenant, AgentID: testAgent, AgentVersion: v, Message: msg,
				Explanation: got.Explanation})
			require.NoError(t, reader.CompleteTurn(context.Background(), rec))
			wantJSON := explanationJSON(t, want.Explanation)
			require.Equal(t, wantJSON, explanationJSON(t, rec.Explanation), "version %d, %q", v, msg)

			whole := readBack(t, &domain.Turn{TenantID: testTenant, AgentID: testAgent, AgentVersion: v, Message: msg,
				Explanation: want.Explanation})
			require.NoError(t, reader.CompleteTurn(context.Background(), whole))
			require.Equal(t, wantJSON, explanationJSON(t, whole.Explanation), "a whole record is read as it was")

			seen.turns++
			seen.examples += strings.Count(wantJSON, `"nearest_example"`)
			seen.terms += strings.Count(wantJSON, `"terms"`)
			seen.reasons += strings.Count(wantJSON, "most like the example")
			if d := want.Explanation.Scenario; d.Action == domain.ScenarioStart && d.Before == nil {
				seen.starts++
			}
			if len(want.Explanation.Matched) > 3 {
				seen.matchedPast3++
			}
			if inFlow && len(strings.Fields(msg)) < 3 {
				seen.shortInFlow++
			}
		}
	}
	t.Logf("%+v", seen)
	require.Greater(t, seen.turns, 300)
	for what, n := range map[string]int{"examples": seen.examples, "terms": seen.terms, "reasons": seen.reasons,
		"scenario starts": seen.starts, "more than three matches": seen.matchedPast3, "short replies in a flow": seen.shortInFlow,
		"examples of a step's options": seen.stepExamples, "short replies read with what was asked": seen.contexts, "a step with two ways to one step": seen.twinSteps} {
		require.Positive(t, n, "the script must exercise %s", what)
	}
	// Each version was compiled once for all its records.
	require.Equal(t, 3, history.reads)
}

// TestLentTurnSpaceRunsAsItsOwn holds a run in a lent space, one other
// turns ran in and reclaimed before, to the same run in a space of its own:
// the same outcome, session after and explanation, turn after turn of a
// returning user's messages over 100 rules and a scenario, with
// explanations and then without (left to the reader). The run takes the space it is
// lent (its outcome is in it), and a second run under the same context,
// the space taken, allocates its own.
func TestLentTurnSpaceRunsAsItsOwn(t *testing.T) {
	train, test := benchPhrasings(t)
	p := benchPolicy(100, train)
	p.Agent.Settings.MatchThreshold = 0.3
	require.Empty(t, p.Validate())
	store := memory.New(clock.System{})
	session := benchSession(t, store)
	sink := func(string) error { return nil }
	// One space for both engines: the candidates' examples and terms of
	// the explained turns must not reach the turns that leave them.
	space := new(TurnSpace)
	for _, deferred := range []bool{false, true} {
		eng, err := New(Deps{Model: llm.Offline{}, History: store, Clock: clock.NewFake(), DeferExplanations: deferred})
		require.NoError(t, err)
		in := ports.TurnInput{Policy: p, Session: session, TurnNumber: session.TurnCount + 1, RequestID: "lent"}
		for i := range 60 {
			in.Message = test[(i*37)%len(test)].Text
			if i%5 == 4 {
				in.Session = session.Clone()
				in.Session.EnterStep(p.Scenarios[0].ID, p.Scenarios[0].EntryStepID, in.TurnNumber-1)
			} else {
				in.Session = session
			}
			own, err := eng.RunTurn(context.Background(), in, sink)
			require.NoError(t, err)
			lent, err := eng.RunTurn(lending{context.Background(), space}, in, sink)
			require.NoError(t, err)
			require.Same(t, &space.run.out, lent, "the run takes the space it is lent")
			require.Equal(t, *own, *lent, fmt.Sprintf("turn %d (deferred %v): %q", i, deferred, in.Message))
			again, err := eng.RunTurn(lending{context.Background(), space}, in, sink)
			require.NoError(t, err)
			require.NotSame(t, &space.run.out, again, "a space already taken is not taken again")
			require.Equal(t, *own, *again)
			space.Reclaim()
		}
	}
}

// The guards presenceOf recognises are answered without the VM: on many
// generated turns, turnGuardHolds must answer as the guard run by the VM
// over the variables gathered (the reference), for presence tests and for
// guards that only look like them.
func TestPresenceGuardsAnswerAsTheVM(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	names := []string{"order_id", "reason", "meta", "agent_name", "channel", "user_channel_id", "session_id", "turn_number", "x y", "missing"}
	str := "AC-123456"
	var nilStr *string
	values := []any{nil, "", "AC-123456", 0.0, 3.5, false, true, 0, []any(nil), []any{}, map[string]any(nil),
		map[string]any{}, nilStr, &str, &nilStr, func() {}, (func())(nil), (chan int)(nil), struct{}{}}
	shapes := []string{`vars.%s != nil`, `vars.%s == nil`, `vars[%q] != nil`, `vars[%q] == nil`, `nil != vars.%s`,
		`not (vars.%s == nil)`, `(vars.%s) != nil`, `vars?.%s != nil`, `vars.%s != nil && true`, `vars.%s == 1`,
		`meta.%s != nil`, `vars.%s?.a != nil`}
	cp, err := domain.CompilePolicy(testPolicy())
	require.NoError(t, err)
	x, err := newExpressions(limits)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	recognised := 0
	for i := range 5000 {
		name := names[rng.IntN(len(names))]
		shape := shapes[rng.IntN(len(shapes))]
		if name == "x y" && !strings.Contains(shape, "%q") {
			name = "missing_too" // only an index names it
		}
		src := fmt.Sprintf(shape, name)
		g, err := CompileWhen(src, limits)
		require.NoError(t, err, src)
		if g.presence != nil {
			recognised++
		}
		d := &decided{cp: cp, now: guardTurn}
		if rng.IntN(4) > 0 {
			d.coll.vars = map[string]any{}
			for range rng.IntN(4) {
				d.coll.vars[names[rng.IntN(len(names))]] = values[rng.IntN(len(values))]
			}
		}
		in := ports.TurnInput{Session: domain.NewSession("s-1", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, guardTurn),
			TurnNumber: 1 + rng.IntN(3)}
		if rng.IntN(3) == 0 {
			in.Metadata = map[string]any{"tier": "gold"}
		}
		var b builtinValues
		want := g.holdsOver(variables(&b, cp, in, in.Session, d.coll.vars), in.Metadata, guardTurn)
		require.Equal(t, want, x.turnGuardHolds(src, d, in), "turn %d: %s over %#v, meta %v", i, src, d.coll.vars, in.Metadata)
	}
	require.Greater(t, recognised, 1000, "the shapes should include many presence tests")
}

// TestSelectByScoreAgreesWithRankingAll compares the selection that ranks
// only the candidates a turn keeps with selectRanked, which sorts them all
// (domain.RankRules), over generated lists: long and short, best first as
// the matcher yields them or shuffled, with tied scores and priorities, NaN
// scores, evidence or none, and every top_k a policy may have.
func TestSelectByScoreAgreesWithRankingAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 1500 {
		c, cands := generatedCandidates(rng)
		want := selectRanked(c.cp, cands)
		got := selectByScore(&c)
		// As printed: NaN scores are equal there, not to reflect.DeepEqual.
		require.Equal(t, fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", got), "trial %d: %d candidates, top_k %d, threshold %v", trial, len(cands),
			c.cp.Settings.TopK, c.cp.Settings.MatchThreshold)
		require.Equal(t, want.ranked == nil, got.ranked == nil)
		require.Equal(t, cap(want.ranked), cap(got.ranked))
		require.Equal(t, cap(want.matched), cap(got.matched))
	}
}

// A run never allocates past its small budget, even for literals that
// type-check.
func TestExpressionEvaluationIsBounded(t *testing.T) {
	assert.Equal(t, "", evalExpression(`len(reply.amounts) == 2`, "$5 and $6", nil))
	assert.Contains(t, evalExpression(`reply.max_amount <= vars.limit`, "That is $900.", map[string]any{"limit": 100}), "false")
	// A runtime error fails closed.
	assert.Contains(t, evalExpression(`vars.n % 0 == 1`, "x", map[string]any{"n": 3}), "expression failed")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	long := string(make([]byte, 64<<10))
	for range 100 {
		evalExpression(`lower(reply.text) contains "x" || upper(reply.text) contains "Y"`, long, nil)
	}
	runtime.ReadMemStats(&after)
	// Each run reads the 64 KiB reply a few times; it cannot grow it.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(100*16*(64<<10)))
}

// The cache of compiled expressions is bounded.
func TestExpressionCacheIsBounded(t *testing.T) {
	x, err := newExpressions(domain.DefaultPolicyLimits())
	require.NoError(t, err)
	for i := range expressionCacheSize + 100 {
		x.check(context.Background(), "reply.length < "+strconv.Itoa(i), "", nil)
	}
	assert.Equal(t, expressionCacheSize, x.programs.Len())
}
