package alignment

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"focal/domain"
	"focal/ports"
)

// prompt builds the generation request: one system message with the agent's
// instructions and everything the engine decided, then the newest
// history_turns earlier turns in order, then the user's message.
func (e *Engine) prompt(ctx context.Context, s *replyScope) ([]ports.ChatMessage, error) {
	history, err := s.turn.recent.forPrompt(ctx)
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
	return append(msgs, ports.ChatMessage{Role: ports.RoleUser, Content: s.turn.in.Message}), nil
}

// systemPrompt lays out the agent's instructions and this turn's policy.
// It writes the strings piece by piece: fmt would box every argument, and
// this runs on every generated turn.
func (s *replyScope) systemPrompt() string {
	var b strings.Builder
	sp := strings.TrimSpace(s.cp.Policy.Agent.SystemPrompt)
	b.Grow(len(sp) + promptReserve)
	if sp != "" {
		line(&b, sp)
	}
	if len(s.matched) > 0 {
		b.WriteString("\n## Rules that apply to this message\n")
		for _, m := range s.matched {
			r := s.cp.Rule(m.RuleID)
			b.WriteString("- ")
			if r.Hard {
				b.WriteString("[MANDATORY] ")
			}
			line(&b, "When ", r.Condition, ": ", r.Action)
		}
	}
	if hard := s.globalHardNotMatched(); len(hard) > 0 {
		b.WriteString("\n## Rules that always apply\n")
		for _, r := range hard {
			line(&b, "- [MANDATORY] ", ruleText(r))
		}
	}
	if s.step != nil && strings.TrimSpace(s.step.Instructions) != "" {
		line(&b, "\n## Current step of ", strconv.Quote(scenarioName(s.scenario)), ": ", stepName(s.step))
		line(&b, s.step.Instructions)
	}
	if s.reask != "" {
		line(&b, "\n## What the step still needs\n", s.reask, " Ask for it again.")
	}
	if s.resume != "" {
		line(&b, "\n## After answering\nThe customer is in the middle of ", strconv.Quote(scenarioName(s.scenario)),
			": answer, then ask again: ", s.resume)
	}
	if ids := s.suggestedTemplates(); len(ids) > 0 {
		b.WriteString("\n## Suggested wording (adapt it, keep its facts)\n")
		for _, id := range ids {
			line(&b, "- ", s.render(id))
		}
	}
	s.writeToolResults(&b)
	if b.Cap()-b.Len() > promptSlack {
		// The prompt is kept for as long as the model streams (a
		// regeneration asks again with it): not the reserve with it.
		return strings.Clone(b.String())
	}
	return b.String()
}

// promptReserve is room for what a turn adds to the agent's own
// instructions, so the prompt is rarely copied as it grows.
const promptReserve = 1024

// promptSlack is how much unused reserve a prompt may keep; beyond it the
// prompt is copied to its size (make bench, idle streams: a short prompt
// kept 1 KiB it did not use for every waiting stream).
const promptSlack = 128

// line writes parts and a newline.
func line(b *strings.Builder, parts ...string) {
	for _, p := range parts {
		b.WriteString(p)
	}
	b.WriteByte('\n')
}

// writeToolResults lists the tools' outputs or failures.
func (s *replyScope) writeToolResults(b *strings.Builder) {
	if len(s.toolCalls) == 0 {
		return
	}
	b.WriteString("\n## Tool results\n")
	for _, c := range s.toolCalls {
		if c.Error != "" {
			line(b, "- ", c.ToolID, " failed: ", c.Error)
			continue
		}
		line(b, "- ", c.ToolID, ": ", formatOutput(c.Output))
	}
}

// globalHardNotMatched are global hard rules enforced this turn that did
// not match, so the model still learns about them.
func (s *replyScope) globalHardNotMatched() []*domain.Rule {
	var out []*domain.Rule
	for _, id := range s.cp.GlobalHardRules() {
		if !slices.ContainsFunc(s.matched, func(m domain.RuleCandidate) bool { return m.RuleID == id }) {
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
