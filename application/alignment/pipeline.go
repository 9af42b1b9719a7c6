package alignment

import (
	"context"
	"reflect"
	"time"

	"focal/domain"
	"focal/ports"
)

// RunTurn implements ports.Engine. Each step takes what earlier steps
// decided and returns its own result; the session after the turn and the
// explanation are each assembled once, from those results.
func (e *Engine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	space := lentSpace(ctx)
	t := space.turnRun()
	timer := &stepTimer{clock: e.clock, machine: e.machineClock, timings: t.timings[:0]}
	timer.begin(space.began())
	d := &t.decided
	d.move = space.moveRecord()
	if err := e.decide(ctx, in, timer, d, space.keptCandidates()); err != nil {
		return nil, err
	}
	// The steps tile the run: what runs between two timed steps (the
	// selection by score, the session after the tools, the reply's scope)
	// counts to the step after it, so the timings add up to the engine's
	// run, as the trace lays their spans end to end (observe), and the
	// clock is read once a step that ran.
	jobs := d.toolJobs(in)
	calls := e.runTools(ctx, d.cp, in, d.now, jobs, d.toolVars)
	timer.endRan("tools", len(jobs) > 0)
	after := sessionAfter(in, d, calls)
	scope := newReplyScope(d, in, calls, after)
	var rep reply
	err := e.respond(ctx, scope, sink, &rep)
	timer.end("generation")
	if err != nil {
		return nil, err
	}
	outcome(&t.out, d, calls, after, scope, &rep, timer)
	return &t.out, nil
}

// turnRun is what a turn allocates once: its decisions, its outcome and
// the array of its step timings, which the outcome's Timings are. Each was
// an allocation of its own; together they fit the 1792-byte size class
// (decided alone is kept within 1024 bytes, the outcome took 512 and the
// timings 240), one object where there were three.
type turnRun struct {
	decided decided
	out     ports.TurnOutcome
	timings [turnSteps]domain.StepTiming
}

// outcome assembles the turn's result in out once the reply is released.
// It is its own function so that the explanation being built is not in
// RunTurn's frame, which is on the stack while a streaming turn waits for
// the model.
func outcome(out *ports.TurnOutcome, d *decided, calls []domain.ToolCall, after *domain.Session, scope *replyScope, rep *reply, timer *stepTimer) {
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
	*out = ports.TurnOutcome{
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
	// stepContext is what the step's matcher read a short reply with,
	// which the record's reader needs when the turn is unexplained.
	stepContext string
	coll        collection
	nav         navigation
	// filtered are the rules in scope that may not fire, with why.
	filtered []domain.FilteredRule
	sel      selection
	builtins builtinValues
	// vars are the variables as collected this turn, with the built-ins
	// and meta, once a guard or the tools' inputs asked for them; the
	// reply reads them too when the turn changed nothing they hold.
	// varsAt is how many values the collection had recorded then: a
	// value read since (readUnset) makes them stale.
	vars   map[string]any
	varsAt int32
	// unexplained: the explanation leaves its examples and terms to the
	// record's reader (Deps.DeferExplanations). It shares a word with
	// varsAt, which keeps a turnRun the smaller (TestTurnRunFitsItsSizeClass).
	unexplained bool
	// in is the turn's input, which the recent turns and the reply read;
	// recent are the turns before this one, read when a step first needs
	// them; scope and rel are the reply's: one allocation with the rest.
	in     ports.TurnInput
	recent recentTurns
	scope  replyScope
	rel    releaser
	// move is where a move from a step records what it weighed: the
	// turn's space's, nil without one (navigate).
	move *stepMoveRecord
}

// decide runs the steps up to the rule selection, into d, a zero
// decided of the turn's (turnRun), keeping the recorded candidates in
// kept's array when it is not nil (keptArray). Its steps run back to
// back, the first timed from the timer's begin, each other from the end
// of the one before (one clock reading per step), and with end rather
// than in closures: a closure copies the turn's input into its own frame,
// and every frame on this path deepens the stack a streaming turn then
// waits for the model on.
func (e *Engine) decide(ctx context.Context, in ports.TurnInput, timer *stepTimer, d *decided, kept *[]domain.RuleCandidate) error {
	lp, err := e.loadPolicy(ctx, in.Policy)
	loaded := timer.end("policy")
	if err != nil {
		return err
	}
	d.cp, d.now, d.unexplained = lp.cp, lp.cp.Now(loaded), e.deferExplanations && lp.vectors == nil
	d.similarity, d.note = e.messageSimilarity(ctx, lp, in.Message)
	timer.endRan("embedding", lp.vectors != nil)
	d.in = in
	d.recent = recentTurns{store: e.history, in: &d.in, want: *d.cp.Settings.HistoryTurns}
	var asked string
	if pos := in.Session.Scenario; pos != nil {
		// What the agent last asked, for reading a short reply.
		asked, err = lastAsked(ctx, d.cp, pos, &d.recent)
		timer.end("context")
		if err != nil {
			return err
		}
	}
	scores := match(d.cp, in, d.similarity, asked, d.unexplained)
	if scores.step.ReadContext {
		d.stepContext = asked
	}
	// What the turn keeps of the scores is copied out of them by the end
	// of decide: the arrays the message was read into go back.
	defer scores.message.Release()
	timer.end("matching")
	d.coll = e.collect(ctx, d.cp, in, d.now, asked)
	timer.end("variables")
	d.nav = e.navigateTurn(d, in, &scores)
	timer.end("scenario")
	cands := candidates(d.cp, in, &d.nav, &scores)
	cands.kept = kept
	d.filtered = cands.filtered
	timer.end("retrieval")
	err = e.selectRules(ctx, d, in, &cands, timer)
	cands.release() // the selection holds copies
	if err != nil {
		return err
	}
	d.sel = explainMatches(d.sel, scores.message, d.cp)
	markDigression(d, in)
	return nil
}

// selectRules picks the rules that apply among the candidates: by the rule
// judge when the agent has it on, otherwise by score.
func (e *Engine) selectRules(ctx context.Context, d *decided, in ports.TurnInput, cands *ruleCandidates, timer *stepTimer) error {
	if !d.cp.Settings.RuleJudge || len(cands.list) == 0 {
		d.sel = selectByScore(cands)
		return nil
	}
	sel, err := e.judgeRules(ctx, d.cp, in, cands, &d.recent)
	timer.end("rule_judge")
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

// stepTimer records how long each step took. The first step runs from
// begin, each other from the end of the step before, to its end.
type stepTimer struct {
	clock ports.Clock
	// machine: the clock is the machine's (ports.MachineClock), whose
	// time a step's end is read as the time since the step began.
	machine bool
	timings []domain.StepTiming
	last    time.Time // when the step being timed began
}

// begin starts timing the turn's first step: from began, when the run was
// lent the time it began by time.Now (TurnSpace.BeganAt) and the clock is
// the machine's, which saves a reading; else from a reading of the clock.
func (s *stepTimer) begin(began time.Time) {
	if s.machine && !began.IsZero() {
		s.last = began
		return
	}
	s.last = s.clock.Now()
}

// now reads the clock at the end of a step. On the machine's clock it is
// the step's start plus the time since (time.Since reads the monotonic
// clock alone, about half of what time.Now costs): the duration a reading
// would give, since both are told by the monotonic clock.
func (s *stepTimer) now() time.Time {
	if s.machine {
		return s.last.Add(time.Since(s.last))
	}
	return s.clock.Now()
}

// end records the step being timed under name and returns the time it
// ended, which the next step begins at.
func (s *stepTimer) end(name string) time.Time {
	now := s.now()
	s.timings = append(s.timings, domain.StepTiming{Step: name, DurationMS: ms(now.Sub(s.last))})
	s.last = now
	return now
}

// endRan is end for a step that ran, and for one that had nothing to do
// (no embedder, no tool to call) a zero step without a reading of the
// clock: what little it took counts to the step after it, as the time
// between steps does.
func (s *stepTimer) endRan(name string, ran bool) {
	if ran {
		s.end(name)
		return
	}
	s.timings = append(s.timings, domain.StepTiming{Step: name})
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
		for _, step := range dec.Passed {
			s.EnterStep(dec.After.ID, step, in.TurnNumber)
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
	// naming new ones past that are dropped. The record is applied in the
	// order the collection set it, so a refusal that took a held value
	// away there (collection.set) finds it held here too.
	for _, x := range d.coll.record {
		switch {
		case x.Source == domain.ClearedOnStart, x.Problem != "" && replacesHeld(x, s.Variables):
			s.UnsetVariable(x.Variable)
		case x.Problem == "":
			s.SetVariable(x.Variable, x.Value)
		}
	}
	noteGiven(s, d, in.TurnNumber)
	// Outputs are applied in the calls' order, so when two tools set one
	// variable the first (the higher-priority rule's) wins deterministically.
	for i := len(calls) - 1; i >= 0; i-- {
		for _, k := range sortedKeys(calls[i].Output) {
			s.SetVariable(k, calls[i].Output[k])
		}
	}
	forgetOverwritten(s, calls, d.coll.vars)
	return s
}

// forgetOverwritten drops from the runs of the flows open after the turn
// what they were given (noteGiven) of each variable a tool's output
// changed: the value held is then the tool's, not the customer's, and a
// step that collects it is not passed on it (passFilledSteps) but asks.
// collected are the variables before the tools wrote theirs; a tool that
// wrote the value held (the customer's, checked as the tool's output is)
// leaves it given.
func forgetOverwritten(s *domain.Session, calls []domain.ToolCall, collected map[string]any) {
	if s.Scenario == nil {
		return
	}
	for _, c := range calls {
		for k := range c.Output {
			if reflect.DeepEqual(s.Variables[k], collected[k]) {
				continue
			}
			s.ForgetGiven(s.Scenario.ScenarioID, k)
			for i := range s.FlowStack {
				s.ForgetGiven(s.FlowStack[i].ScenarioID, k)
			}
		}
	}
}

// noteGiven records in the runs of the flows open after the turn (their
// scenario positions, which a new run starts without) the variables of
// their steps that the turn gave, read from the message or sent in its
// metadata, and forgets those it took away (a refused offer in place of
// a held value, a flow's start clearing one): a step entered later in a
// run is passed on what the run was given (passFilledSteps). A flow
// waiting under the active one is noted too: the message that started
// the active one from inside it may have given what it collects, read
// ahead while it was the active one.
func noteGiven(s *domain.Session, d *decided, turn int) {
	if s.Scenario == nil || len(d.coll.record) == 0 {
		return
	}
	noteGivenIn(s, d, s.Scenario.ScenarioID, turn)
	for i := range s.FlowStack {
		noteGivenIn(s, d, s.FlowStack[i].ScenarioID, turn)
	}
}

// noteGivenIn is noteGiven for the run of the open flow of scenarioID.
func noteGivenIn(s *domain.Session, d *decided, scenarioID string, turn int) {
	sc := d.cp.Scenario(scenarioID)
	if sc == nil {
		return
	}
	for _, x := range d.coll.record {
		switch {
		case !sc.Collects(x.Variable):
		case x.Problem == "" && (offered(x) || x.Source == domain.SetByMetadata):
			s.NoteGiven(scenarioID, x.Variable, turn)
		case s.Variables[x.Variable] == nil:
			s.ForgetGiven(scenarioID, x.Variable)
		}
	}
}
