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
	timer := &stepTimer{clock: e.clock}
	d, err := e.decide(ctx, in, timer)
	if err != nil {
		return nil, err
	}
	cp := d.cp
	var calls []domain.ToolCall
	timer.run("tools", func() { calls = e.runTools(ctx, cp, in, d.sel.matched) })
	after := sessionAfter(cp, in, d.nav, d.sel.matched, calls)
	scope := newReplyScope(cp, in, d.nav, d.sel.matched, calls, after, d.history)
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
	usage := d.sel.usage
	usage.Add(rep.usage)
	mode := domain.RetrievalLexical
	if d.similarity != nil {
		mode = domain.RetrievalHybrid
	}
	return &ports.TurnOutcome{
		Response: rep.text,
		Session:  after,
		Explanation: explain(explanationParts{retrieval: domain.Retrieval{Mode: mode, Note: d.note, Judge: d.sel.judge},
			nav: d.nav, cands: d.cands, sel: d.sel, calls: calls, rep: rep, threshold: cp.Settings.MatchThreshold}),
		Usage:   usage,
		Model:   rep.model,
		Timings: timer.timings,
	}, nil
}

// decisions are what a turn decided before acting: the scores, where the
// scenario goes, the candidate rules and those that apply.
type decisions struct {
	cp         *domain.CompiledPolicy
	similarity []float64 // the message's to each example text; nil without an embedder
	note       string    // why the semantic signal is missing, when it is
	history    *recentTurns
	nav        navigation
	cands      ruleCandidates
	sel        selection
}

// decide runs the steps that decide what applies to the message, from the
// policy to the rules selected (by the judge or by score).
func (e *Engine) decide(ctx context.Context, in ports.TurnInput, timer *stepTimer) (decisions, error) {
	var lp loadedPolicy
	err := timer.time("policy", func() (err error) {
		lp, err = e.loadPolicy(ctx, in.Policy)
		return err
	})
	if err != nil {
		return decisions{}, err
	}
	d := decisions{cp: lp.cp}
	cp := lp.cp
	timer.run("embedding", func() { d.similarity, d.note = e.messageSimilarity(ctx, lp, in.Message) })
	d.history = &recentTurns{store: e.history, in: in, want: *cp.Settings.HistoryTurns}
	var asked string
	if pos := in.Session.Scenario; pos != nil {
		// What the agent last asked, for reading a short reply.
		if err := timer.time("context", func() (err error) { asked, err = lastAsked(ctx, cp, pos, d.history); return err }); err != nil {
			return decisions{}, err
		}
	}
	var scores matching
	timer.run("matching", func() { scores = match(cp, in, d.similarity, asked) })
	timer.run("scenario", func() { d.nav = navigate(cp, in.Session.Scenario, scores) })
	timer.run("retrieval", func() { d.cands = candidates(cp, in, d.nav, scores) })
	if cp.Settings.RuleJudge && len(d.cands.list) > 0 {
		err = timer.time("rule_judge", func() (err error) { d.sel, err = e.judgeRules(ctx, cp, in, d.cands.list, d.history); return err })
		if err != nil {
			return decisions{}, err
		}
	} else {
		d.sel = selectByScore(cp, d.cands.list)
	}
	d.sel = explainMatches(d.sel, scores.message, cp)
	return d, nil
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
