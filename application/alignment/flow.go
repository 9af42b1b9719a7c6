package alignment

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"focal/domain"
	"focal/ports"
)

// navigateTurn decides the scenario move: a built-in command the agent
// switched on, else navigation with the transitions' guards evaluated over
// the variables as collected this turn, else a flow started from inside
// the active one. A flow left returns to the one waiting under it. A flow
// started clears what its steps collect when it says so (restart); a step
// entered reads the message for the variables it collects, and a flow
// started reads it ahead for its later steps' (readEntered); a step
// entered that the run already gave all it collects is passed
// (passFilledSteps).
func (e *Engine) navigateTurn(d *decided, in ports.TurnInput, scores *matching) navigation {
	nav := e.move(d, in, scores)
	dec := &nav.decision
	if a := dec.Action; (a == domain.ScenarioExit || a == domain.ScenarioLoopExit) && dec.Command != domain.CommandHuman {
		if stack := in.Session.FlowStack; len(stack) > 0 {
			top := stack[len(stack)-1]
			nav.resumed = &top
			dec.Resumed = &domain.ScenarioRef{ID: top.ScenarioID, Step: top.StepID}
		}
	}
	if a := dec.Action; a == domain.ScenarioStart || a == domain.ScenarioAdvance {
		if a == domain.ScenarioStart {
			d.coll.restart(d.cp, nav.position, in.Session.Variables, d.now)
		}
		if st := currentStep(d.cp, nav.position); st != nil {
			d.coll.readEntered(d.cp, nav.position, st.Collects, in.Message, d.now, a == domain.ScenarioStart)
			e.passFilledSteps(&nav, d, in)
		}
	}
	return nav
}

// passFilledSteps moves the flow on from a step it just entered when the
// flow's run gave everything the step collects: the message that moved it
// there ("I want to return my jacket, order AC-123456"), the request's
// metadata, or an earlier message of the run ("I want to return my
// jacket, it was too small", then the order number: the reason step is
// passed), read ahead (readMessage). It moves by the one guarded
// transition without a condition that holds (of the highest priority; a
// tie stays, as navigation's does), as that step's next message would
// have: the reply asks for what is still missing instead of what the
// customer already gave. Values held from before the run (an earlier
// run's, another flow's, metadata of a turn before it) do not pass a
// step: a flow run again with on_start keep still asks, once, so that a
// second return does not go through on the first one's order and reason,
// unless a message of the run gave the value again, read ahead in place
// of the one held (openAhead).
// Each step passed reads the message for the next one's variables. A step
// is not passed when it runs tools (on entry or completion), when it
// collects nothing (it is there to say something), or when its target was
// passed this turn, or entered as often as max_step_visits allows
// (navigation's loop exit decides that on the next message). The record
// lists the steps passed (decision.passed), and its reason says which
// values an earlier turn of the run gave.
func (e *Engine) passFilledSteps(nav *navigation, d *decided, in ports.TurnInput) {
	dec := &nav.decision
	sc := d.cp.Scenario(nav.position.ScenarioID)
	var visits, given map[string]int
	if cur := in.Session.Scenario; cur != nil && cur.ScenarioID == sc.ID && !nav.nested {
		visits, given = cur.StepVisits, cur.Given
	}
	for range sc.Steps { // each passed once at most
		st := sc.Step(nav.position.StepID)
		if st == nil || len(st.Collects) == 0 || len(st.ToolsOnEntry)+len(st.ToolsOnComplete) > 0 {
			return
		}
		earlier, ok := d.coll.gaveAll(st.Collects, given)
		if !ok {
			return
		}
		to := e.filledStepExit(st, d, in)
		if to == "" || to == st.ID || slices.Contains(dec.Passed, to) || visits[to] >= d.cp.Settings.MaxStepVisits {
			return
		}
		dec.Passed = append(dec.Passed, st.ID)
		if earlier != "" {
			earlier = " (" + earlier + ")"
		}
		dec.Reason += fmt.Sprintf("; %s holds what it collects%s: passed on to %s", st.ID, earlier, to)
		if next := sc.Step(to); next != nil && next.Terminal {
			dec.Reason += "; terminal step: the scenario ends after this turn"
		}
		nav.position = &domain.ScenarioPosition{ScenarioID: sc.ID, StepID: to}
		dec.After = &domain.ScenarioRef{ID: sc.ID, Step: to}
		if next := sc.Step(to); next != nil {
			d.coll.readEntered(d.cp, nav.position, next.Collects, in.Message, d.now, false)
		}
	}
}

// filledStepExit is the step's transition a filled step passes by: of
// those with a guard and no condition whose guard holds, the one of the
// highest priority, "" when none holds or two share that priority.
func (e *Engine) filledStepExit(st *domain.Step, d *decided, in ports.TurnInput) string {
	to, best, tied := "", 0, false
	for _, tr := range st.Transitions {
		if tr.When == "" || tr.MatchCondition().Exists() || !e.exprs.turnGuardHolds(tr.When, d, in) {
			continue
		}
		switch {
		case to == "" || tr.Priority > best:
			to, best, tied = tr.To, tr.Priority, false
		case tr.Priority == best:
			tied = true
		}
	}
	if tied {
		return ""
	}
	return to
}

func (e *Engine) move(d *decided, in ports.TurnInput, scores *matching) navigation {
	pos := in.Session.Scenario
	if cmd := domain.FlowCommand(in.Message, d.cp.Settings.Commands); cmd != "" && (pos != nil || cmd == domain.CommandHuman) {
		return commandMove(pos, cmd)
	}
	// The variables are gathered only for a transition that has a guard
	// to evaluate which reads more than whether one of them is set: most
	// turns have none.
	guard := func(tr domain.Transition) bool { return e.exprs.turnGuardHolds(tr.When, d, in) }
	nav := navigate(d.cp, pos, scores, guard, d.move)
	if nav.decision.Action == domain.ScenarioAdvance {
		holdStep(&nav, d, in)
	}
	if nav.decision.Action == domain.ScenarioStay {
		if nested, ok := nestedStart(d.cp, in.Session, scores); ok {
			return nested
		}
	}
	return nav
}

// holdStep keeps the flow at its step, where navigation would move it on,
// when the message offered a value for a variable the step collects and
// the value was refused: the step asks for it again, saying why, instead
// of the flow going on without it, or as if the customer's change to a
// value held had been made.
func holdStep(nav *navigation, d *decided, in ports.TurnInput) {
	pos := in.Session.Scenario
	st := currentStep(d.cp, pos)
	if st == nil {
		return
	}
	name := d.coll.refusedOffered(st)
	if name == "" {
		return
	}
	dec := &nav.decision
	dec.Action, dec.After, dec.Transition, dec.Score = domain.ScenarioStay, dec.Before, nil, 0
	dec.Reason = "the value the message gave for " + name + " was refused: the step asks for it again"
	nav.position = pos
}

// nestedStart starts another flow from inside the active one when the
// message clears that flow's entry condition and it was going nowhere
// else; the active flow waits on the stack (at most MaxFlowDepth flows).
func nestedStart(cp *domain.CompiledPolicy, s *domain.Session, scores *matching) (navigation, bool) {
	if s.Scenario == nil || len(s.FlowStack)+1 >= domain.MaxFlowDepth {
		return navigation{}, false
	}
	threshold := cp.Settings.ScenarioEntryThreshold
	var best *domain.Scenario
	bestScore := threshold
	for i := range cp.Policy.Scenarios {
		sc := &cp.Policy.Scenarios[i]
		if score := scores.message.Entry(sc.ID).Score; sc.Enabled && !flowOpen(s, sc.ID) && score >= bestScore && (best == nil || score > bestScore) {
			best, bestScore = sc, score
		}
	}
	if best == nil {
		return navigation{}, false
	}
	cur := s.Scenario
	d := domain.ScenarioDecision{Action: domain.ScenarioStart, Score: bestScore,
		Before: &domain.ScenarioRef{ID: cur.ScenarioID, Step: cur.StepID},
		After:  &domain.ScenarioRef{ID: best.ID, Step: best.EntryStepID},
		Reason: fmt.Sprintf("entry condition of %s scored %.2f ≥ %.2f; %s waits to resume", best.ID, bestScore, threshold, cur.ScenarioID)}
	return navigation{decision: d, position: &domain.ScenarioPosition{ScenarioID: best.ID, StepID: best.EntryStepID}, nested: true}, true
}

// flowOpen reports whether the scenario id is s's active flow or one
// waiting under it: a few to look through (at most MaxFlowDepth), where a
// set of them was a map a turn.
func flowOpen(s *domain.Session, id string) bool {
	if s.Scenario.ScenarioID == id {
		return true
	}
	for _, p := range s.FlowStack {
		if p.ScenarioID == id {
			return true
		}
	}
	return false
}

// commandMove carries out a built-in command: both leave the flow (the
// whole stack of them); "human" also hands the conversation over.
func commandMove(pos *domain.ScenarioPosition, cmd string) navigation {
	d := domain.ScenarioDecision{Action: domain.ScenarioNone, Command: cmd}
	switch cmd {
	case domain.CommandCancel:
		d.Reason = "the customer cancelled the flow (built-in command cancel)"
	case domain.CommandHuman:
		d.Reason = "the customer asked for a person (built-in command human)"
	}
	if pos != nil {
		d.Action = domain.ScenarioExit
		d.Before = &domain.ScenarioRef{ID: pos.ScenarioID, Step: pos.StepID}
	}
	return navigation{decision: d}
}

// restart puts back what the steps of a flow starting at pos collect, when
// its on_start is clear: the values earlier turns gave (held) are removed,
// or set to their initial value again, before the message that starts it
// is read, so that a second return asks for its reason again. Values from
// metadata stay: a client may send them once. Neither is a customer's
// change of a value, so changeable does not keep one.
func (c *collection) restart(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, held map[string]any, now time.Time) {
	sc := cp.Scenario(pos.ScenarioID)
	if sc == nil || sc.OnStart != domain.StartClear {
		return
	}
	vs := cp.Variables()
	for _, n := range sc.Collected() {
		x := vs.Get(n)
		if x == nil || held[n] == nil || x.Variable().FromMetadata != "" {
			continue
		}
		if v := x.Variable(); v.Initial != nil {
			if val, err := x.Check(v.Initial, now); err == nil {
				c.set(domain.Extraction{Variable: n, Source: domain.SetByInitial, Value: val})
				continue
			}
		}
		c.set(domain.Extraction{Variable: n, Source: domain.ClearedOnStart})
	}
}

// readEntered reads the names a step just entered collects from msg,
// deterministically: a message that starts a flow or moves it on may
// already give what the step asks for ("I want to return order
// AC-123456"). A message that starts a flow is the step's own, so it may
// change a changeable value, as the step's later messages may (a second
// return names its own order), and what it gives wrong is recorded, for
// the step to say why it asks ("AC-12345" is not a valid order number);
// one that moved the flow on answered the step before, so it only fills
// what is unset, and a reading of it that fails is no answer to this step.
// A message that starts a flow is also the run's first: the rest of it is
// read ahead for the flow's later steps, as each message of the run is
// (readMessage).
func (c *collection) readEntered(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, names []string, msg string, now time.Time, started bool) {
	var open []string
	if started {
		open = openNames(cp.Variables(), c, names)
	} else {
		for _, n := range names {
			if c.vars[n] == nil {
				open = append(open, n)
			}
		}
	}
	var ahead []string
	if started {
		ahead = aheadNames(cp, pos, c, names)
	}
	if len(open) == 0 && len(ahead) == 0 {
		return
	}
	read, early := cp.Variables().ExtractAhead(open, ahead, msg, now)
	for _, x := range read {
		if started || x.Problem == "" {
			c.set(x)
		}
	}
	for _, x := range early {
		c.set(x)
	}
}

// markDigression records a question answered mid-flow: the flow stays at
// its step and a global rule answered.
func markDigression(d *decided, in ports.TurnInput) {
	dec := &d.nav.decision
	if in.Session.Scenario == nil || dec.Action != domain.ScenarioStay || len(d.sel.matched) == 0 {
		return
	}
	if r := d.cp.Rule(d.sel.matched[0].RuleID); r != nil && r.Scope == domain.ScopeGlobal {
		dec.Digression = r.ID
	}
}

// toolJob is one tool call the turn makes: for a matched rule, or for a
// step entered or completed.
type toolJob struct {
	tool   domain.Tool
	ruleID string
	step   string // "<scenario>/<step>"
	on     string // "entry" or "complete"
}

// Moments a step calls its tools.
const (
	onEntry    = "entry"
	onComplete = "complete"
)

// toolJobs lists the turn's tool calls, each tool once: the matched rules'
// tools in the rules' order, then those of the step the turn completed
// (its collected variables became complete) and of the step it entered.
func (d *decided) toolJobs(in ports.TurnInput) []toolJob {
	// The tools taken are looked up in added, a job's tool id each: a turn
	// calls a few tools at most, and most none, where a set of them was a
	// map a turn.
	var jobs []toolJob
	var added []string
	add := func(ids []string, j toolJob) {
		for _, id := range ids {
			if tool := d.cp.Tool(id); tool != nil && !slices.Contains(added, id) {
				added = append(added, id)
				j.tool = *tool
				jobs = append(jobs, j)
			}
		}
	}
	for _, m := range d.sel.matched {
		add(d.cp.Rule(m.RuleID).ToolIDs, toolJob{ruleID: m.RuleID})
	}
	positions := []*domain.ScenarioPosition{in.Session.Scenario}
	entered := d.nav.decision.Action == domain.ScenarioStart || d.nav.decision.Action == domain.ScenarioAdvance
	if entered {
		positions = append(positions, d.nav.position)
	}
	for _, pos := range positions {
		st := currentStep(d.cp, pos)
		if st != nil && len(st.Collects) > 0 && !st.Lacks(d.coll.vars) && st.Lacks(in.Session.Variables) {
			add(st.ToolsOnComplete, toolJob{step: domain.StepKey(pos.ScenarioID, pos.StepID), on: onComplete})
		}
	}
	if st := currentStep(d.cp, d.nav.position); entered && st != nil {
		add(st.ToolsOnEntry, toolJob{step: domain.StepKey(d.nav.position.ScenarioID, d.nav.position.StepID), on: onEntry})
	}
	return jobs
}

// toolVars are what tool inputs are taken from: the variables as collected
// this turn, with the built-ins and the request's metadata.
func (d *decided) toolVars(in ports.TurnInput) map[string]any { return d.collected(in) }

// collected are the variables as collected this turn, with the built-ins
// and the request's metadata, gathered on first use and again once the
// collection has recorded more. Nothing writes to them: guards, tool
// inputs and templates only read.
func (d *decided) collected(in ports.TurnInput) map[string]any {
	if !d.varsCurrent() {
		d.vars, d.varsAt = variables(&d.builtins, d.cp, in, in.Session, d.coll.vars), int32(len(d.coll.record))
	}
	return d.vars
}

// collectedValue is what d.collected(in) holds under name (nil when it
// holds nothing), read without gathering the variables: as variables
// sets them, meta wins over the collected values, which win over the
// built-ins, which are never nil.
func (d *decided) collectedValue(in ports.TurnInput, name string) any {
	if name == metaVariable && in.Metadata != nil {
		return in.Metadata
	}
	if v, ok := d.coll.vars[name]; ok {
		return v
	}
	if isBuiltinVariable(name) {
		return builtinSet
	}
	return nil
}

// varsCurrent reports whether the variables gathered hold every value
// collected so far.
func (d *decided) varsCurrent() bool { return d.vars != nil && int(d.varsAt) == len(d.coll.record) }

// toolSets lists the variables the tools set, for the explanation.
func toolSets(calls []domain.ToolCall) []domain.Extraction {
	var out []domain.Extraction
	for _, c := range calls {
		for _, k := range sortedKeys(c.Output) {
			out = append(out, domain.Extraction{Variable: k, Source: domain.SetByTool, Value: c.Output[k], Text: c.ToolID})
		}
	}
	return out
}

// asksItself reports whether a reply already asks the customer something,
// so the flow's question is not added after it.
func asksItself(text string) bool {
	return strings.HasSuffix(strings.TrimSpace(text), "?")
}

// decorate adds the flow's part to a template's text: the reason a step
// asks again before the step's own question, or, after a digression's
// answer, the step's question to resume the flow (unless the answer asks
// something itself); and, when a flow ended with another waiting, that
// one's question.
func (s *replyScope) decorate(id, text string) string {
	ofStep := s.step != nil && slices.Contains(s.step.TemplateIDs, id)
	switch {
	case ofStep && s.reask != "" && text != s.reask:
		text = s.reask + " " + text
	case !ofStep && s.resume != "" && !asksItself(text):
		text += "\n\n" + s.resume
	}
	if s.returnTo != "" {
		text += "\n\n" + s.returnTo
	}
	return text
}

// returnQuestion is what a flow waiting at pos asks, said when the flow
// above it ends.
func returnQuestion(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, render func(string) string) string {
	sc := cp.Scenario(pos.ScenarioID)
	if sc == nil {
		return ""
	}
	back := "Back to " + scenarioName(sc)
	if st := sc.Step(pos.StepID); st != nil {
		for _, id := range st.TemplateIDs {
			if t, _, ok := cp.Template(id); ok && t.Mode == domain.ModeExclusive {
				return back + ": " + render(id)
			}
		}
	}
	return back + "."
}

// Built-in replies to the flow commands, when no matched rule's template
// says otherwise.
const (
	cancelReply = "OK, I've stopped that. Is there anything else I can help with?"
	humanReply  = "I'm handing you over to a person; they will reply in this conversation."
)

func commandReply(s *replyScope) string {
	if s.command == domain.CommandHuman {
		return humanReply
	}
	if s.returnTo != "" {
		return cancelReply + "\n\n" + s.returnTo
	}
	return cancelReply
}
