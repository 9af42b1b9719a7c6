package alignment

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"focal/domain"
	"focal/ports"
)

// prompt builds the generation request: one system message with the agent's
// instructions and everything the engine decided, then the newest
// history_turns earlier turns in order, then the user's message.
func (e *Engine) prompt(ctx context.Context, t *turn) ([]ports.ChatMessage, error) {
	if err := e.loadHistory(ctx, t); err != nil {
		return nil, err
	}
	history := t.history
	msgs := make([]ports.ChatMessage, 0, 2+2*len(history))
	msgs = append(msgs, ports.ChatMessage{Role: ports.RoleSystem, Content: t.systemPrompt()})
	for _, h := range history {
		if h.Status != domain.TurnCompleted {
			continue
		}
		msgs = append(msgs,
			ports.ChatMessage{Role: ports.RoleUser, Content: h.Message},
			ports.ChatMessage{Role: ports.RoleAssistant, Content: h.Response})
	}
	return append(msgs, ports.ChatMessage{Role: ports.RoleUser, Content: t.in.Message}), nil
}

// systemPrompt lays out the agent's instructions and this turn's policy.
func (t *turn) systemPrompt() string {
	var b strings.Builder
	if sp := strings.TrimSpace(t.cp.Policy.Agent.SystemPrompt); sp != "" {
		b.WriteString(sp)
		b.WriteString("\n")
	}
	if len(t.matched) > 0 {
		b.WriteString("\n## Rules that apply to this message\n")
		for _, m := range t.matched {
			r := t.cp.Rule(m.RuleID)
			mark := ""
			if r.Hard {
				mark = "[MANDATORY] "
			}
			fmt.Fprintf(&b, "- %sWhen %s: %s\n", mark, r.Condition, r.Action)
		}
	}
	if hard := t.globalHardNotMatched(); len(hard) > 0 {
		b.WriteString("\n## Rules that always apply\n")
		for _, r := range hard {
			fmt.Fprintf(&b, "- [MANDATORY] %s\n", ruleText(r))
		}
	}
	if st := t.currentStep(); st != nil && strings.TrimSpace(st.Instructions) != "" {
		sc := t.cp.Scenario(t.state.Scenario.ScenarioID)
		fmt.Fprintf(&b, "\n## Current step of %q: %s\n%s\n", scenarioName(sc), stepName(st), st.Instructions)
	}
	if ids := t.suggestedTemplates(); len(ids) > 0 {
		b.WriteString("\n## Suggested wording (adapt it, keep its facts)\n")
		for _, id := range ids {
			fmt.Fprintf(&b, "- %s\n", t.render(id))
		}
	}
	if calls := t.exp.ToolCalls; len(calls) > 0 {
		b.WriteString("\n## Tool results\n")
		for _, c := range calls {
			if c.Error != "" {
				fmt.Fprintf(&b, "- %s failed: %s\n", c.ToolID, c.Error)
				continue
			}
			fmt.Fprintf(&b, "- %s: %s\n", c.ToolID, formatOutput(c.Output))
		}
	}
	return b.String()
}

// globalHardNotMatched are global hard rules enforced this turn that did
// not match, so the model still learns about them.
func (t *turn) globalHardNotMatched() []*domain.Rule {
	matched := map[string]bool{}
	for _, m := range t.matched {
		matched[m.RuleID] = true
	}
	var out []*domain.Rule
	for _, id := range t.cp.GlobalHardRules() {
		if !matched[id] {
			out = append(out, t.cp.Rule(id))
		}
	}
	return out
}

func ruleText(r *domain.Rule) string {
	if r.Action != "" {
		return r.Action
	}
	return r.Condition
}

func scenarioName(sc *domain.Scenario) string {
	if sc.Name != "" {
		return sc.Name
	}
	return sc.ID
}

func stepName(st *domain.Step) string {
	if st.Name != "" {
		return st.Name
	}
	return st.ID
}

func formatOutput(out map[string]any) string {
	parts := make([]string, 0, len(out))
	for _, k := range slices.Sorted(maps.Keys(out)) {
		parts = append(parts, k+"="+domain.FormatValue(out[k]))
	}
	return strings.Join(parts, ", ")
}

// loadHistory reads the newest history_turns turns once per turn; the rule
// judge starts it early so it overlaps the judge's model call.
func (e *Engine) loadHistory(ctx context.Context, t *turn) error {
	if t.historyLoaded {
		return nil
	}
	if n := *t.cp.Settings.HistoryTurns; n > 0 && t.in.TurnNumber > 1 {
		h := t.in.History // read with the session, when the caller did
		if h == nil {
			var err error
			if h, err = e.history.RecentHistory(ctx, t.state.TenantID, t.state.ID, n); err != nil {
				return err
			}
		}
		t.history = h[max(0, len(h)-n):]
	}
	t.historyLoaded = true
	return nil
}
