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
func (e *Engine) prompt(ctx context.Context, s *replyScope) ([]ports.ChatMessage, error) {
	history, err := s.history.forPrompt(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]ports.ChatMessage, 0, 2+2*len(history))
	msgs = append(msgs, ports.ChatMessage{Role: ports.RoleSystem, Content: s.systemPrompt()})
	for _, h := range history {
		if h.Status != domain.TurnCompleted {
			continue
		}
		msgs = append(msgs,
			ports.ChatMessage{Role: ports.RoleUser, Content: h.Message},
			ports.ChatMessage{Role: ports.RoleAssistant, Content: h.Response})
	}
	return append(msgs, ports.ChatMessage{Role: ports.RoleUser, Content: s.message}), nil
}

// systemPrompt lays out the agent's instructions and this turn's policy.
func (s *replyScope) systemPrompt() string {
	var b strings.Builder
	if sp := strings.TrimSpace(s.cp.Policy.Agent.SystemPrompt); sp != "" {
		b.WriteString(sp)
		b.WriteString("\n")
	}
	if len(s.matched) > 0 {
		b.WriteString("\n## Rules that apply to this message\n")
		for _, m := range s.matched {
			r := s.cp.Rule(m.RuleID)
			mark := ""
			if r.Hard {
				mark = "[MANDATORY] "
			}
			fmt.Fprintf(&b, "- %sWhen %s: %s\n", mark, r.Condition, r.Action)
		}
	}
	if hard := s.globalHardNotMatched(); len(hard) > 0 {
		b.WriteString("\n## Rules that always apply\n")
		for _, r := range hard {
			fmt.Fprintf(&b, "- [MANDATORY] %s\n", ruleText(r))
		}
	}
	if s.step != nil && strings.TrimSpace(s.step.Instructions) != "" {
		fmt.Fprintf(&b, "\n## Current step of %q: %s\n%s\n", scenarioName(s.scenario), stepName(s.step), s.step.Instructions)
	}
	if s.reask != "" {
		fmt.Fprintf(&b, "\n## What the step still needs\n%s Ask for it again.\n", s.reask)
	}
	if s.resume != "" {
		fmt.Fprintf(&b, "\n## After answering\nThe customer is in the middle of %q: answer, then ask again: %s\n", scenarioName(s.scenario), s.resume)
	}
	if ids := s.suggestedTemplates(); len(ids) > 0 {
		b.WriteString("\n## Suggested wording (adapt it, keep its facts)\n")
		for _, id := range ids {
			fmt.Fprintf(&b, "- %s\n", s.render(id))
		}
	}
	if len(s.toolCalls) > 0 {
		b.WriteString("\n## Tool results\n")
		for _, c := range s.toolCalls {
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
func (s *replyScope) globalHardNotMatched() []*domain.Rule {
	matched := map[string]bool{}
	for _, m := range s.matched {
		matched[m.RuleID] = true
	}
	var out []*domain.Rule
	for _, id := range s.cp.GlobalHardRules() {
		if !matched[id] {
			out = append(out, s.cp.Rule(id))
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
