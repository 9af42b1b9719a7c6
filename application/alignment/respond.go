package alignment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"focal/domain"
	"focal/ports"
)

// respond produces the reply, enforces the hard constraints in scope and
// releases checked text to sink. It returns the full released reply.
func (e *Engine) respond(ctx context.Context, t *turn, sink ports.DeltaSink) (string, error) {
	enforced := t.enforcedConstraints()
	rel := newReleaser(sink, enforced)
	check := func(text string, attempt int) bool { return e.acceptable(ctx, t, enforced, text, attempt) }

	if id := t.exclusiveTemplate(); id != "" {
		// Keep ModelCalls: the rule judge may already have called the model.
		t.exp.Generation.Source, t.exp.Generation.TemplateID = domain.SourceTemplate, id
		if text := t.render(id); check(text, 0) {
			return text, rel.releaseText(text)
		}
		return e.fallback(t, rel, check)
	}

	err := e.generate(ctx, t, rel, check)
	switch {
	case err == nil:
		return rel.releasedText(), nil
	case errors.Is(err, ports.ErrOffline):
		return e.offline(t, rel, check)
	case errors.Is(err, errNoAcceptableReply):
		return e.fallback(t, rel, check)
	default:
		return "", err
	}
}

// errNoAcceptableReply means every generation attempt broke a constraint.
var errNoAcceptableReply = errors.New("no generated reply satisfied the hard constraints")

// generate asks the model for the reply, streaming it through the releaser,
// and regenerates with the violation named while attempts remain.
func (e *Engine) generate(ctx context.Context, t *turn, rel *releaser, check func(string, int) bool) error {
	messages, err := e.prompt(ctx, t)
	if err != nil {
		return err
	}
	attempts := 1 + *t.cp.Settings.MaxRegenerations
	for attempt := 0; attempt < attempts; attempt++ {
		rel.begin()
		prefix := rel.releasedText() // what earlier attempts released
		req := ports.ChatRequest{
			Model:       t.cp.Settings.Model,
			Messages:    messages,
			Temperature: t.cp.Settings.Temperature,
			MaxTokens:   t.cp.Settings.MaxTokens,
		}
		res, err := e.model.StreamChat(ctx, req, rel.write)
		if errors.Is(err, ports.ErrOffline) {
			return err
		}
		t.exp.Generation.ModelCalls++
		t.exp.Generation.Source = domain.SourceModel
		t.usage.Add(res.Usage)
		if res.Model != "" {
			t.model = res.Model
		}
		text := rel.attemptText()
		if v, ok := isViolation(err); ok {
			t.exp.Enforcement.Violations = append(t.exp.Enforcement.Violations, domain.Violation{
				RuleID: v.constraint.RuleID, Kind: v.constraint.Constraint.Kind,
				Value: v.constraint.Constraint.Value, Attempt: attempt, Detail: "caught while streaming",
			})
		} else if err != nil {
			return err
		} else if check(prefix+text, attempt) { // the client gets prefix+text
			return rel.finish()
		}
		if attempt+1 < attempts {
			t.exp.Enforcement.Regenerations++
			messages = regenerationPrompt(messages, rel.releasedText(), t.exp.Enforcement.Violations)
		}
	}
	return errNoAcceptableReply
}

// regenerationPrompt asks again, naming what the last attempt broke. When
// part of the reply has already reached the client it asks for the rest.
func regenerationPrompt(base []ports.ChatMessage, released string, violations []domain.Violation) []ports.ChatMessage {
	last := violations[len(violations)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "Your previous reply broke a mandatory rule (%s %q). Write the reply again so that it satisfies every rule.", last.Kind, last.Value)
	if released != "" {
		fmt.Fprintf(&b, " The user has already received the beginning of your reply: %q. Write only the rest, continuing seamlessly from exactly where it stops, and do not repeat it.", released)
	}
	out := append([]ports.ChatMessage(nil), base...)
	return append(out, ports.ChatMessage{Role: ports.RoleSystem, Content: b.String()})
}

// offline answers without a model: the best suggested template, else the
// agent's fallback template, else the refusal.
func (e *Engine) offline(t *turn, rel *releaser, check func(string, int) bool) (string, error) {
	t.exp.Generation.Source = domain.SourceOffline
	if id := t.suggestedTemplate(); id != "" {
		t.exp.Generation.TemplateID = id
		if text := t.render(id); check(text, 0) {
			return text, rel.releaseText(text)
		}
	}
	return e.fallback(t, rel, check)
}

// fallback answers with the fallback template when it satisfies the
// constraints, else with the refusal. Text released earlier stays first.
func (e *Engine) fallback(t *turn, rel *releaser, check func(string, int) bool) (string, error) {
	prefix := rel.releasedText()
	sep := ""
	if prefix != "" {
		sep = "\n\n"
	}
	if id := t.fallbackTemplate(); id != "" {
		if text := sep + t.render(id); check(prefix+text, attemptFallback) {
			t.exp.Enforcement.Fallback = true
			if t.exp.Generation.Source != domain.SourceOffline || len(t.exp.Enforcement.Violations) > 0 {
				t.exp.Generation.Source = domain.SourceFallback
			}
			t.exp.Generation.TemplateID = id
			return prefix + text, rel.releaseText(text)
		}
	}
	refusal := sep + t.cp.Settings.RefusalMessage
	t.exp.Enforcement.Refused = true
	t.exp.Generation.Source = domain.SourceRefusal
	t.exp.Generation.TemplateID = ""
	if !check(prefix+refusal, attemptRefusal) {
		// Even the refusal breaks a rule: say nothing more rather than break it.
		return prefix, nil
	}
	return prefix + refusal, rel.releaseText(refusal)
}

// enforcedConstraints are the constraints of every matched hard rule and
// every global hard rule, each rule once.
func (t *turn) enforcedConstraints() []domain.CheckedConstraint {
	var out []domain.CheckedConstraint
	seen := map[string]bool{}
	add := func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		if r := t.cp.Rule(id); r != nil && r.Hard {
			out = append(out, t.cp.Constraints(id)...)
			t.exp.Enforcement.Rules = append(t.exp.Enforcement.Rules, id)
		}
	}
	for _, m := range t.matched {
		add(m.RuleID)
	}
	for _, id := range t.cp.GlobalHardRules() {
		add(id)
	}
	return out
}

// Attempt numbers of the last resorts, in violation records.
const (
	attemptFallback = -1
	attemptRefusal  = -2
)

// acceptable checks text against every enforced constraint and records each
// violation. The refusal is the operator's own wording: it is not put to a
// judge, whose model may be the very thing that is down, but it still
// obeys phrases, patterns and expressions.
func (e *Engine) acceptable(ctx context.Context, t *turn, enforced []domain.CheckedConstraint, text string, attempt int) bool {
	ok := true
	for _, c := range enforced {
		if attempt == attemptRefusal && c.Constraint.Kind == domain.ConstraintJudge {
			continue
		}
		detail := c.CheckLexical(text)
		switch c.Constraint.Kind {
		case domain.ConstraintExpression, domain.ConstraintJudge:
			detail = e.checkWholeText(ctx, t, c, text)
		}
		if detail != "" {
			ok = false
			t.exp.Enforcement.Violations = append(t.exp.Enforcement.Violations, domain.Violation{
				RuleID: c.RuleID, Kind: c.Constraint.Kind, Value: c.Constraint.Value, Attempt: attempt, Detail: detail,
			})
		}
	}
	return ok
}

// checkWholeText checks expression and judge constraints, which need the
// whole reply.
func (e *Engine) checkWholeText(ctx context.Context, t *turn, c domain.CheckedConstraint, text string) string {
	if c.Constraint.Kind == domain.ConstraintExpression {
		return e.exprs.check(ctx, c.Constraint.Value, text, t.variables())
	}
	return e.judge(ctx, t, c, text)
}
