package alignment

import (
	"context"
	"time"

	"focal/domain"
	"focal/ports"
)

// RunTurn implements ports.Engine. Each step takes what earlier steps
// decided and returns its own result; the session after the turn and the
// explanation are each assembled once, from those results.
func (e *Engine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	timer := stepTimer{clock: e.clock}
	var lp loadedPolicy
	err := timer.time("policy", func() (err error) {
		lp, err = e.loadPolicy(ctx, in.Policy)
		return err
	})
	if err != nil {
		return nil, err
	}
	cp := lp.cp
	var similarity []float64
	var note string
	timer.run("embedding", func() { similarity, note = e.messageSimilarity(ctx, lp, in.Message) })
	history := &recentTurns{store: e.history, in: in, want: *cp.Settings.HistoryTurns}
	var asked string
	if pos := in.Session.Scenario; pos != nil {
		// What the agent last asked, for reading a short reply.
		if err := timer.time("context", func() (err error) { asked, err = lastAsked(ctx, cp, pos, history); return err }); err != nil {
			return nil, err
		}
	}
	var scores matching
	timer.run("matching", func() { scores = match(cp, in, similarity, asked) })
	var nav navigation
	timer.run("scenario", func() { nav = navigate(cp, in.Session.Scenario, scores) })
	var cands ruleCandidates
	var sel selection
	timer.run("retrieval", func() { cands = candidates(cp, in, nav, scores) })
	if cp.Settings.RuleJudge && len(cands.list) > 0 {
		err = timer.time("rule_judge", func() (err error) { sel, err = e.judgeRules(ctx, cp, in, cands.list, history); return err })
		if err != nil {
			return nil, err
		}
	} else {
		sel = selectByScore(cp, cands.list)
	}
	sel = explainMatches(sel, scores.message, cp)
	var calls []domain.ToolCall
	timer.run("tools", func() { calls = e.runTools(ctx, cp, in, sel.matched) })
	after := sessionAfter(cp, in, nav, sel.matched, calls)
	scope := newReplyScope(cp, in, nav, sel.matched, calls, after, history)
	var rep reply
	err = timer.time("generation", func() (err error) {
		rep, err = e.respond(ctx, scope, sink)
		return err
	})
	if err != nil {
		return nil, err
	}
	// A terminal step answers this turn and ends its scenario.
	if scope.step != nil && scope.step.Terminal {
		after.ExitScenario()
	}
	usage := sel.usage
	usage.Add(rep.usage)
	mode := domain.RetrievalLexical
	if similarity != nil {
		mode = domain.RetrievalHybrid
	}
	return &ports.TurnOutcome{
		Response: rep.text,
		Session:  after,
		Explanation: explain(explanationParts{retrieval: domain.Retrieval{Mode: mode, Note: note, Judge: sel.judge},
			nav: nav, cands: cands, sel: sel, calls: calls, rep: rep, threshold: cp.Settings.MatchThreshold}),
		Usage:   usage,
		Model:   rep.model,
		Timings: timer.timings,
	}, nil
}

// stepTimer records how long each step took.
type stepTimer struct {
	clock   ports.Clock
	timings []domain.StepTiming
}

// time runs fn and records its duration under name.
func (s *stepTimer) time(name string, fn func() error) error {
	start := s.clock.Now()
	err := fn()
	s.timings = append(s.timings, domain.StepTiming{Step: name, DurationMS: ms(s.clock.Now().Sub(start))})
	return err
}

// run is time for a step that cannot fail.
func (s *stepTimer) run(name string, fn func()) {
	_ = s.time(name, func() error { fn(); return nil })
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sessionAfter is the session once the turn's decisions apply: the
// scenario move, the matched rules' fires and the tools' outputs. The input
// session is not modified.
func sessionAfter(cp *domain.CompiledPolicy, in ports.TurnInput, nav navigation, matched []domain.RuleCandidate, calls []domain.ToolCall) *domain.Session {
	s := in.Session.Clone()
	switch d := nav.decision; d.Action {
	case domain.ScenarioStart, domain.ScenarioAdvance:
		s.EnterStep(d.After.ID, d.After.Step, in.TurnNumber)
	case domain.ScenarioExit, domain.ScenarioLoopExit:
		s.ExitScenario()
	}
	for _, m := range matched {
		s.RecordFire(m.RuleID, in.TurnNumber)
	}
	// Outputs are applied in the rules' order, so when two tools set one
	// variable the higher-priority rule's tool wins deterministically. A
	// session holds at most domain.MaxSessionVariables variables: outputs
	// naming new ones past that are dropped.
	for i := len(calls) - 1; i >= 0; i-- {
		for _, k := range sortedKeys(calls[i].Output) {
			s.SetVariable(k, calls[i].Output[k])
		}
	}
	return s
}
