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
	timer := &stepTimer{clock: e.clock, timings: make([]domain.StepTiming, 0, turnSteps)}
	d, err := e.decide(ctx, in, timer)
	if err != nil {
		return nil, err
	}
	var calls []domain.ToolCall
	timer.run("tools", func() { calls = e.runTools(ctx, d.cp, in, d.now, d.toolJobs(in), d.toolVars) })
	after := sessionAfter(in, d, calls)
	scope := newReplyScope(d, in, calls, after)
	var rep reply
	err = timer.time("generation", func() error { return e.respond(ctx, scope, sink, &rep) })
	if err != nil {
		return nil, err
	}
	return outcome(d, calls, after, scope, &rep, timer), nil
}

// outcome assembles the turn's result once the reply is released. It is
// its own function so that the explanation being built is not in RunTurn's
// frame, which is on the stack while a streaming turn waits for the model.
func outcome(d *decided, calls []domain.ToolCall, after *domain.Session, scope *replyScope, rep *reply, timer *stepTimer) *ports.TurnOutcome {
	// A terminal step answers this turn and ends its scenario; a flow
	// waiting under it resumes.
	if scope.step != nil && scope.step.Terminal {
		after.ExitScenario()
		if pos := after.ResumeScenario(); pos != nil {
			d.nav.decision.Resumed = &domain.ScenarioRef{ID: pos.ScenarioID, Step: pos.StepID}
		}
	}
	usage := d.sel.usage
	usage.Add(d.coll.usage)
	usage.Add(rep.usage)
	return &ports.TurnOutcome{
		Response:    rep.text,
		Session:     after,
		Explanation: explain(explanationParts{turn: d, calls: calls, rep: *rep, reask: scope.reask}),
		Usage:       usage,
		Model:       rep.model,
		Timings:     timer.timings,
	}
}

// decided is what the turn decided before anything is said or called: the
// variables collected, the scenario move and the rules that apply.
type decided struct {
	cp         *domain.CompiledPolicy
	now        time.Time // the turn's time on the agent's calendar
	similarity []float64
	note       string
	history    *recentTurns
	coll       collection
	nav        navigation
	cands      ruleCandidates
	sel        selection
	builtins   builtinValues
}

// decide runs the steps up to the rule selection. Its steps are timed
// with begin and end rather than in closures: a closure copies the turn's
// input into its own frame, and every frame on this path deepens the stack
// a streaming turn then waits for the model on.
func (e *Engine) decide(ctx context.Context, in ports.TurnInput, timer *stepTimer) (*decided, error) {
	start := timer.begin()
	lp, err := e.loadPolicy(ctx, in.Policy)
	timer.end("policy", start)
	if err != nil {
		return nil, err
	}
	d := &decided{cp: lp.cp, now: lp.cp.Now(e.clock.Now())}
	start = timer.begin()
	d.similarity, d.note = e.messageSimilarity(ctx, lp, in.Message)
	timer.end("embedding", start)
	d.history = &recentTurns{store: e.history, in: in, want: *d.cp.Settings.HistoryTurns}
	var asked string
	if pos := in.Session.Scenario; pos != nil {
		// What the agent last asked, for reading a short reply.
		start = timer.begin()
		asked, err = lastAsked(ctx, d.cp, pos, d.history)
		timer.end("context", start)
		if err != nil {
			return nil, err
		}
	}
	start = timer.begin()
	scores := match(d.cp, in, d.similarity, asked)
	// What the turn keeps of the scores is copied out of them by the end
	// of decide: the arrays the message was read into go back.
	defer scores.message.Release()
	timer.end("matching", start)
	start = timer.begin()
	d.coll = e.collect(ctx, d.cp, in, d.now, asked)
	timer.end("variables", start)
	start = timer.begin()
	d.nav = e.navigateTurn(d, in, &scores)
	timer.end("scenario", start)
	start = timer.begin()
	d.cands = candidates(d.cp, in, &d.nav, &scores)
	timer.end("retrieval", start)
	err = e.selectRules(ctx, d, in, timer)
	d.cands.release() // the selection holds copies
	if err != nil {
		return nil, err
	}
	d.sel = explainMatches(d.sel, scores.message, d.cp)
	markDigression(d, in)
	return d, nil
}

// selectRules picks the rules that apply among the candidates: by the rule
// judge when the agent has it on, otherwise by score.
func (e *Engine) selectRules(ctx context.Context, d *decided, in ports.TurnInput, timer *stepTimer) error {
	if !d.cp.Settings.RuleJudge || len(d.cands.list) == 0 {
		d.sel = selectByScore(d.cp, d.cands.list)
		return nil
	}
	start := timer.begin()
	sel, err := e.judgeRules(ctx, d.cp, in, d.cands.list, d.history)
	timer.end("rule_judge", start)
	if err != nil {
		return err
	}
	d.sel = sel
	return nil
}

// turnSteps is how many steps a turn can time (policy, embedding, context,
// matching, variables, scenario, retrieval, rule_judge, tools, generation):
// the timings are allocated once.
const turnSteps = 10

// stepTimer records how long each step took.
type stepTimer struct {
	clock   ports.Clock
	timings []domain.StepTiming
}

// begin starts timing a step.
func (s *stepTimer) begin() time.Time { return s.clock.Now() }

// end records the step begun at start under name.
func (s *stepTimer) end(name string, start time.Time) {
	s.timings = append(s.timings, domain.StepTiming{Step: name, DurationMS: ms(s.clock.Now().Sub(start))})
}

// time runs fn and records its duration under name.
func (s *stepTimer) time(name string, fn func() error) error {
	start := s.begin()
	err := fn()
	s.end(name, start)
	return err
}

// run is time for a step that cannot fail.
func (s *stepTimer) run(name string, fn func()) {
	_ = s.time(name, func() error { fn(); return nil })
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sessionAfter is the session once the turn's decisions apply: the
// scenario move, the variables collected, the matched rules' fires and the
// tools' outputs. The input session is not modified.
func sessionAfter(in ports.TurnInput, d *decided, calls []domain.ToolCall) *domain.Session {
	s := in.Session.Clone()
	dec := d.nav.decision
	switch dec.Action {
	case domain.ScenarioStart, domain.ScenarioAdvance:
		if d.nav.nested {
			s.SuspendScenario()
		}
		s.EnterStep(dec.After.ID, dec.After.Step, in.TurnNumber)
	case domain.ScenarioExit, domain.ScenarioLoopExit:
		s.ExitScenario()
		s.ResumeScenario()
	}
	if dec.Command == domain.CommandHuman {
		s.LeaveAllScenarios()
	}
	for _, m := range d.sel.matched {
		s.RecordFire(m.RuleID, in.TurnNumber)
	}
	// A session holds at most domain.MaxSessionVariables variables: values
	// naming new ones past that are dropped.
	for _, x := range d.coll.record {
		if x.Problem == "" {
			s.SetVariable(x.Variable, x.Value)
		}
	}
	// Outputs are applied in the calls' order, so when two tools set one
	// variable the first (the higher-priority rule's) wins deterministically.
	for i := len(calls) - 1; i >= 0; i-- {
		for _, k := range sortedKeys(calls[i].Output) {
			s.SetVariable(k, calls[i].Output[k])
		}
	}
	return s
}
