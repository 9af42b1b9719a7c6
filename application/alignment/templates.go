package alignment

import (
	"maps"

	"focal/domain"
	"focal/ports"
)

// replyScope is everything the reply is made from, as the earlier steps
// decided it. No step changes it once built.
type replyScope struct {
	cp *domain.CompiledPolicy
	// matched are the matched rules in prompt order.
	matched []domain.RuleCandidate
	// scenario and step are where the turn answers from (nil outside
	// scenarios); stepEntered is true when the turn moved into the step.
	scenario    *domain.Scenario
	step        *domain.Step
	stepEntered bool
	toolCalls   []domain.ToolCall
	// after is the session once the tools ran, which the variables are
	// gathered from (with the turn's input) when first needed.
	after *domain.Session
	// vars are the session's variables once the tools ran, with the
	// built-ins and the request's metadata (meta); nil until variables()
	// gathers them.
	vars map[string]any
	// turn is the turn's decisions, whose built-ins and recent turns
	// the reply reads (the scope is a part of it).
	turn *decided
	// reask says why the step asks again (what its variables lack);
	// resume is the step's question, said after a digression's answer.
	reask, resume string
	// command is the built-in command the message gave.
	command string
	// returnTo is the question of the flow returned to when one ends.
	returnTo string
}

func newReplyScope(d *decided, in ports.TurnInput, calls []domain.ToolCall, after *domain.Session) *replyScope {
	cp, nav := d.cp, d.nav
	d.scope = replyScope{cp: cp, matched: d.sel.matched, toolCalls: calls,
		after: after, turn: d, command: nav.decision.Command}
	s := &d.scope
	// The session after the turn holds the variables as collected, set in
	// the same order, plus what tools set, less what its bound on variables
	// dropped: without tool calls and with as many variables, the ones
	// gathered already (if nothing was collected since) are the reply's.
	if d.varsCurrent() && len(calls) == 0 && len(after.Variables) == len(d.coll.vars) {
		s.vars = d.vars
	}
	if pos := nav.position; pos != nil {
		if s.scenario = cp.Scenario(pos.ScenarioID); s.scenario != nil {
			s.step = s.scenario.Step(pos.StepID)
		}
	}
	a := nav.decision.Action
	s.stepEntered = s.step != nil && (a == domain.ScenarioStart || a == domain.ScenarioAdvance)
	if wait := waitingFlow(s, nav, after); wait != nil {
		s.returnTo = returnQuestion(cp, wait, s.render)
	}
	if s.step == nil || len(s.step.Collects) == 0 {
		return s
	}
	switch {
	case nav.decision.Digression != "":
		if id := s.templateOf(s.step.TemplateIDs, domain.ModeExclusive); id != "" {
			s.resume = s.render(id)
		}
	case !s.stepEntered || hasProblem(d.coll, s.step):
		s.reask = reaskReason(cp, d.coll, s.step)
	}
	return s
}

// waitingFlow is the flow the turn returns to: the one a flow left
// resumed, or the one under a terminal step, or nil.
func waitingFlow(s *replyScope, nav navigation, after *domain.Session) *domain.ScenarioPosition {
	if nav.resumed != nil {
		return nav.resumed
	}
	if s.step != nil && s.step.Terminal && len(after.FlowStack) > 0 {
		return &after.FlowStack[len(after.FlowStack)-1]
	}
	return nil
}

// hasProblem reports whether the turn refused a value the step collects.
func hasProblem(c collection, st *domain.Step) bool {
	for n := range st.EachMissing(c.vars) {
		if c.problem(n) != nil {
			return true
		}
	}
	return false
}

// exclusiveTemplate picks the template that answers without a model: the
// top matched rule's exclusive template; else, the current step's exclusive
// template when the step was entered this turn or no rule matched (a step's
// exclusive template is what the step says).
func (s *replyScope) exclusiveTemplate() string {
	if len(s.matched) > 0 {
		if id := s.templateOf(s.cp.Rule(s.matched[0].RuleID).TemplateIDs, domain.ModeExclusive); id != "" {
			return id
		}
	}
	if s.step != nil && (s.stepEntered || len(s.matched) == 0) {
		return s.templateOf(s.step.TemplateIDs, domain.ModeExclusive)
	}
	return ""
}

// suggestedTemplate is the best suggested wording: from the matched rules
// in prompt order, then the current step.
func (s *replyScope) suggestedTemplate() string {
	for ids := range s.templateSources {
		if id := s.templateOf(ids, domain.ModeSuggest); id != "" {
			return id
		}
	}
	return ""
}

// suggestedTemplates lists every suggested wording in scope, for the prompt.
func (s *replyScope) suggestedTemplates() []string {
	var out []string
	seen := map[string]bool{}
	for ids := range s.templateSources {
		for _, id := range ids {
			if tpl, _, ok := s.cp.Template(id); ok && tpl.Mode == domain.ModeSuggest && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// fallbackTemplate is the fallback of the matched rules, then of the current
// step, then the agent's own.
func (s *replyScope) fallbackTemplate() string {
	for ids := range s.templateSources {
		if id := s.templateOf(ids, domain.ModeFallback); id != "" {
			return id
		}
	}
	return s.cp.FallbackTemplate()
}

// templateSources yields the template id lists in scope, most specific
// first (as a sequence: a turn looks through them up to three times, and
// a list of them was an allocation each time).
func (s *replyScope) templateSources(yield func([]string) bool) {
	for _, m := range s.matched {
		if !yield(s.cp.Rule(m.RuleID).TemplateIDs) {
			return
		}
	}
	if s.step != nil {
		yield(s.step.TemplateIDs)
	}
}

func (s *replyScope) templateOf(ids []string, mode domain.TemplateMode) string {
	for _, id := range ids {
		if tpl, _, ok := s.cp.Template(id); ok && tpl.Mode == mode {
			return id
		}
	}
	return ""
}

// variables are what templates and expression checks read: gathered on
// first use, since a reply that needs neither is common. A scope is used by
// one goroutine.
func (s *replyScope) variables() map[string]any {
	if s.vars == nil {
		s.vars = variables(&s.turn.builtins, s.cp, s.turn.in, s.after, nil)
	}
	return s.vars
}

// render fills a template with the turn's variables. A placeholder with
// no value falls back to the template's default text; without one, to the
// step's re-ask, else the agent's fallback, so a reply never shows a
// blank.
func (s *replyScope) render(id string) string {
	r, _ := s.cp.Renderer(id)
	if text, ok := r.Literal(); ok {
		return text // the variables are not gathered for a text without placeholders
	}
	text, _, complete := r.Render(s.variables())
	if complete {
		return text
	}
	if s.reask != "" {
		return s.reask
	}
	if fb := s.cp.FallbackTemplate(); fb != "" && fb != id {
		if fr, ok := s.cp.Renderer(fb); ok {
			if t, _, ok := fr.Render(s.variables()); ok {
				return t
			}
		}
	}
	return text
}

// variables are a session's variables (values, when not nil, instead of
// the session's) plus built-ins describing the turn, and the request's
// metadata as meta; session variables win over built-ins, so a tool can
// override one. b holds the built-ins' values of the turn.
func variables(b *builtinValues, cp *domain.CompiledPolicy, in ports.TurnInput, s *domain.Session, values map[string]any) map[string]any {
	if values == nil {
		values = s.Variables
	}
	b.box(cp, in, s)
	// Sized once: the built-ins, the variables and meta.
	v := make(map[string]any, builtinVariables+len(values)+1)
	v["agent_name"] = b.agentName
	v["channel"] = b.channel
	v["user_channel_id"] = b.userChannelID
	v["session_id"] = b.sessionID
	v["turn_number"] = b.turnNumber
	maps.Copy(v, values)
	if in.Metadata != nil {
		v[metaVariable] = in.Metadata
	}
	return v
}

// builtinVariables is how many built-ins variables sets.
const builtinVariables = 5

// metaVariable is the name the request's metadata goes by.
const metaVariable = "meta"

// isBuiltinVariable reports whether variables sets name as a built-in.
func isBuiltinVariable(name string) bool {
	switch name {
	case "agent_name", "channel", "user_channel_id", "session_id", "turn_number":
		return true
	}
	return false
}

// builtinSet stands for a built-in's value where only whether it is set
// matters (decided.collectedValue): every built-in is.
const builtinSet = true

// builtinValues are the built-in variables' values of one turn, boxed
// once: a turn gathers its variables up to three times (a transition's
// guard, the tools' inputs, the reply), and boxing a string allocates.
// The built-ins describe the turn and its session, whose channel, user
// and id no step changes. A turn's steps use it one at a time. Boxed, its
// turnNumber is not nil (whatever the number).
type builtinValues struct {
	agentName, channel, userChannelID, sessionID, turnNumber any
}

// box boxes the built-ins of the turn on first use.
func (b *builtinValues) box(cp *domain.CompiledPolicy, in ports.TurnInput, s *domain.Session) {
	if b.turnNumber != nil {
		return
	}
	b.agentName, b.channel, b.userChannelID, b.sessionID = cp.AgentName(), s.Channel, s.UserChannelID, s.ID
	b.turnNumber = in.TurnNumber
}
