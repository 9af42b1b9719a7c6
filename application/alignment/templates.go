package alignment

import (
	"maps"

	"focal/domain"
)

// exclusiveTemplate picks the template that answers without a model: the
// top matched rule's exclusive template; else, the current step's exclusive
// template when the step was entered this turn or no rule matched (a step's
// exclusive template is what the step says).
func (t *turn) exclusiveTemplate() string {
	if len(t.matched) > 0 {
		if id := t.templateOf(t.cp.Rule(t.matched[0].RuleID).TemplateIDs, domain.ModeExclusive); id != "" {
			return id
		}
	}
	if st := t.currentStep(); st != nil && (t.stepEntered() || len(t.matched) == 0) {
		return t.templateOf(st.TemplateIDs, domain.ModeExclusive)
	}
	return ""
}

// stepEntered reports whether navigation moved into a step this turn.
func (t *turn) stepEntered() bool {
	a := t.exp.Scenario.Action
	return a == domain.ScenarioStart || a == domain.ScenarioAdvance
}

// suggestedTemplate is the best suggested wording: from the matched rules
// in prompt order, then the current step.
func (t *turn) suggestedTemplate() string {
	for _, ids := range t.templateSources() {
		if id := t.templateOf(ids, domain.ModeSuggest); id != "" {
			return id
		}
	}
	return ""
}

// suggestedTemplates lists every suggested wording in scope, for the prompt.
func (t *turn) suggestedTemplates() []string {
	var out []string
	seen := map[string]bool{}
	for _, ids := range t.templateSources() {
		for _, id := range ids {
			if tpl, _, ok := t.cp.Template(id); ok && tpl.Mode == domain.ModeSuggest && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// fallbackTemplate is the fallback of the matched rules, then of the current
// step, then the agent's own.
func (t *turn) fallbackTemplate() string {
	for _, ids := range t.templateSources() {
		if id := t.templateOf(ids, domain.ModeFallback); id != "" {
			return id
		}
	}
	return t.cp.FallbackTemplate()
}

// templateSources are the template id lists in scope, most specific first.
func (t *turn) templateSources() [][]string {
	var out [][]string
	for _, m := range t.matched {
		out = append(out, t.cp.Rule(m.RuleID).TemplateIDs)
	}
	if st := t.currentStep(); st != nil {
		out = append(out, st.TemplateIDs)
	}
	return out
}

func (t *turn) templateOf(ids []string, mode domain.TemplateMode) string {
	for _, id := range ids {
		if tpl, _, ok := t.cp.Template(id); ok && tpl.Mode == mode {
			return id
		}
	}
	return ""
}

// render fills a template with the session's variables and the built-ins.
func (t *turn) render(id string) string {
	_, parsed, _ := t.cp.Template(id)
	text, _ := parsed.Render(t.variables())
	return text
}

// variables are the session's variables plus built-ins describing the turn;
// session variables win, so a tool can override a built-in.
func (t *turn) variables() map[string]any {
	v := map[string]any{
		"agent_name":      t.cp.Policy.Agent.Name,
		"channel":         t.state.Channel,
		"user_channel_id": t.state.UserChannelID,
		"session_id":      t.state.ID,
		"turn_number":     t.in.TurnNumber,
	}
	maps.Copy(v, t.state.Variables)
	return v
}
