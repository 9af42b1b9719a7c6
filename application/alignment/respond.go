package alignment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"focal/domain"
	"focal/ports"
)

// reply is the generation step's result: the released text, how it was
// produced, and the hard-constraint check of it.
type reply struct {
	text        string
	generation  domain.Generation // ModelCalls counts this step's calls, judges' included
	enforcement domain.Enforcement
	usage       domain.TokenUsage
	model       string
}

// replying is one reply being produced: the releaser that owns what the
// client has been sent, and what the candidates so far have shown. It
// lives for one respond call.
type replying struct {
	e        *Engine
	ctx      context.Context
	scope    *replyScope
	rel      *releaser
	enforced []domain.CheckedConstraint
	// shared: enforced is the compiled policy's own list (passedTexts).
	shared bool
	out    reply
}

// respond produces the reply, enforces the hard constraints in scope and
// releases checked text to sink. The reply is written to out, which the
// caller owns: returned by value, a copy of it would sit in each frame the
// turn waits for the model under, and returned by pointer, the replying
// state would have to live on the heap.
func (e *Engine) respond(ctx context.Context, s *replyScope, sink ports.DeltaSink, out *reply) error {
	enforced, ruleIDs, shared := s.enforcedConstraints()
	rel := &s.turn.rel // one allocation with the turn's decisions
	rel.init(sink, enforced)
	r := &replying{e: e, ctx: ctx, scope: s, rel: rel, enforced: enforced, shared: shared}
	r.out.enforcement = domain.Enforcement{Rules: ruleIDs, Violations: []domain.Violation{}}
	text, err := r.produce()
	r.out.text = text
	*out = r.out
	return err
}

func (r *replying) produce() (string, error) {
	id := r.scope.exclusiveTemplate()
	if id == "" && r.scope.command != "" {
		r.out.generation.Source = domain.SourceTemplate
		if text := commandReply(r.scope); r.acceptable(text, domain.StageReply, 0) {
			return text, r.rel.releaseText(text)
		}
		return r.fallback(afterViolation)
	}
	if id != "" {
		r.out.generation.Source, r.out.generation.TemplateID = domain.SourceTemplate, id
		if text := r.scope.decorate(id, r.scope.render(id)); r.acceptableOwn(text, domain.StageReply) {
			return text, r.rel.releaseText(text)
		}
		return r.fallback(afterViolation)
	}
	err := r.generate()
	switch {
	case err == nil:
		return r.rel.releasedText(), nil
	case errors.Is(err, ports.ErrOffline):
		return r.offline()
	case errors.Is(err, errNoAcceptableReply):
		return r.fallback(afterViolation)
	default:
		return "", err
	}
}

// errNoAcceptableReply means every generation attempt broke a constraint.
var errNoAcceptableReply = errors.New("no generated reply satisfied the hard constraints")

// generate asks the model for the reply, streaming it through the releaser,
// and regenerates with the violation named while attempts remain.
func (r *replying) generate() error {
	if r.e.offline {
		// What the model would answer, without the prompt it never reads.
		return ports.ErrOffline
	}
	messages, err := r.e.prompt(r.ctx, r.scope)
	if err != nil {
		return err
	}
	settings := &r.scope.cp.Settings // not copied: this frame is on the stack while the model streams
	attempts := 1 + *settings.MaxRegenerations
	for attempt := 0; attempt < attempts; attempt++ {
		r.rel.begin()
		r.rel.reserve()
		prefix := r.rel.releasedText() // what earlier attempts released
		req := ports.ChatRequest{Model: settings.Model, Messages: messages, Temperature: settings.Temperature, MaxTokens: settings.MaxTokens}
		res, err := r.e.model.StreamChat(r.ctx, req, r.rel.write)
		if errors.Is(err, ports.ErrOffline) {
			return err
		}
		r.out.generation.ModelCalls++
		r.out.generation.Source = domain.SourceModel
		r.out.usage.Add(res.Usage)
		if res.Model != "" {
			r.out.model = res.Model
		}
		text := r.rel.attemptText()
		if v, ok := isViolation(err); ok {
			r.caughtStreaming(v, attempt)
		} else if err != nil {
			return err
		} else if r.acceptable(prefix+text, domain.StageReply, attempt) { // the client gets prefix+text
			return r.rel.finish()
		}
		if attempt+1 < attempts {
			r.out.enforcement.Regenerations++
			messages = regenerationPrompt(messages, r.rel.releasedText(), r.out.enforcement.Violations)
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
func (r *replying) offline() (string, error) {
	r.out.generation.Source = domain.SourceOffline
	id := r.scope.suggestedTemplate()
	if id == "" {
		return r.fallback(nothingOffline)
	}
	r.out.generation.TemplateID = id
	if text := r.scope.decorate(id, r.scope.render(id)); r.acceptableOwn(text, domain.StageReply) {
		return text, r.rel.releaseText(text)
	}
	return r.fallback(afterViolation)
}

// fallbackCause is why the fallback template is tried.
type fallbackCause int

const (
	// afterViolation: a reply broke a hard constraint; the fallback
	// replaces it.
	afterViolation fallbackCause = iota
	// nothingOffline: without a model there was nothing else to say; the
	// fallback is the offline answer.
	nothingOffline
)

// fallback answers with the fallback template when it satisfies the
// constraints, else with the refusal. Text released earlier stays first.
func (r *replying) fallback(cause fallbackCause) (string, error) {
	prefix := r.rel.releasedText()
	sep := ""
	if prefix != "" {
		sep = "\n\n"
	}
	if id := r.scope.fallbackTemplate(); id != "" {
		if text := sep + r.scope.render(id); r.acceptableOwn(prefix+text, domain.StageFallback) {
			r.out.enforcement.Fallback = true
			r.out.generation.Source = domain.SourceFallback
			if cause == nothingOffline {
				r.out.generation.Source = domain.SourceOffline
			}
			r.out.generation.TemplateID = id
			return prefix + text, r.rel.releaseText(text)
		}
	}
	refusal := sep + r.scope.cp.Settings.RefusalMessage
	r.out.enforcement.Refused = true
	r.out.generation.Source = domain.SourceRefusal
	r.out.generation.TemplateID = ""
	if !r.acceptableOwn(prefix+refusal, domain.StageRefusal) {
		// Even the refusal breaks a rule: say nothing more rather than break it.
		return prefix, nil
	}
	return prefix + refusal, r.rel.releaseText(refusal)
}

// enforcedConstraints are the constraints of every matched hard rule and
// every global hard rule, each rule once, and those rules' ids. Both lists
// are shared with the compiled policy when they are its own (no matched
// rule is hard, or one rule is enforced; shared): nothing writes to them,
// and copying them was most of what a turn allocated to enforce.
func (s *replyScope) enforcedConstraints() (_ []domain.CheckedConstraint, _ []string, shared bool) {
	global := s.cp.GlobalHardRules()
	rules := global[:len(global):len(global)]
	if !s.matchedHard() {
		if rules == nil {
			rules = []string{} // the record lists no rules as [], not null
		}
		out := s.cp.GlobalHardConstraints()
		return out[:len(out):len(out)], rules, true
	}
	return s.matchedConstraints(global)
}

// matchedConstraints is enforcedConstraints when a matched rule is hard:
// that rule, the other hard ones matched, then the global ones.
func (s *replyScope) matchedConstraints(global []string) (_ []domain.CheckedConstraint, _ []string, shared bool) {
	rules := make([]string, 0, len(s.matched)+len(global))
	// A rule is listed once: the few enforced are searched, not mapped.
	for _, m := range s.matched {
		if r := s.cp.Rule(m.RuleID); r != nil && r.Hard && !slices.Contains(rules, m.RuleID) {
			rules = append(rules, m.RuleID)
		}
	}
	for _, id := range global {
		if !slices.Contains(rules, id) {
			rules = append(rules, id)
		}
	}
	if len(rules) == 1 {
		out := s.cp.Constraints(rules[0])
		return out[:len(out):len(out)], rules, true
	}
	n := 0
	for _, id := range rules {
		n += len(s.cp.Constraints(id))
	}
	out := make([]domain.CheckedConstraint, 0, n)
	for _, id := range rules {
		out = append(out, s.cp.Constraints(id)...)
	}
	return out, rules, false
}

// matchedHard reports whether a matched rule is hard.
func (s *replyScope) matchedHard() bool {
	for _, m := range s.matched {
		if r := s.cp.Rule(m.RuleID); r != nil && r.Hard {
			return true
		}
	}
	return false
}

// acceptableOwn is acceptable for a text of the policy's own (a template,
// the refusal), the same turn after turn: one that passed the policy's
// own constraints last time is not checked again (passedTexts).
func (r *replying) acceptableOwn(text string, stage domain.ReplyStage) bool {
	if !r.shared {
		return r.acceptable(text, stage, 0)
	}
	if r.e.passed.known(r.enforced, text) {
		return true
	}
	ok := r.acceptable(text, stage, 0)
	if ok {
		r.e.passed.remember(r.enforced, text)
	}
	return ok
}

// acceptable checks a candidate reply against every enforced constraint
// and records each violation. The refusal is the operator's own wording:
// it is not put to a judge, whose model may be the very thing that is
// down, but it still obeys phrases, patterns and expressions.
func (r *replying) acceptable(text string, stage domain.ReplyStage, attempt int) bool {
	ok := true
	checked := domain.NewCheckedText(text)
	for _, c := range r.enforced {
		if stage == domain.StageRefusal && c.Constraint.Kind == domain.ConstraintJudge {
			continue
		}
		detail := c.CheckLexicalIn(checked)
		switch c.Constraint.Kind {
		case domain.ConstraintExpression:
			detail = r.e.exprs.check(r.ctx, c.Constraint.Value, text, r.scope.variables())
		case domain.ConstraintJudge:
			detail = r.judge(c, text)
		}
		if detail != "" {
			ok = false
			r.violated(domain.Violation{RuleID: c.RuleID, Kind: c.Constraint.Kind, Value: c.Constraint.Value,
				Stage: stage, Attempt: attempt, Detail: detail})
		}
	}
	return ok
}

// caughtStreaming records a violation the releaser caught mid-stream. It
// is built here, not in generate, whose frame the model call waits under.
func (r *replying) caughtStreaming(v *errViolation, attempt int) {
	r.violated(domain.Violation{RuleID: v.constraint.RuleID, Kind: v.constraint.Constraint.Kind,
		Value: v.constraint.Constraint.Value, Stage: domain.StageReply, Attempt: attempt, Detail: "caught while streaming"})
}

func (r *replying) violated(v domain.Violation) {
	r.out.enforcement.Violations = append(r.out.enforcement.Violations, v)
}

// judge asks the model about a judge constraint, counting the call.
func (r *replying) judge(c domain.CheckedConstraint, text string) string {
	detail, usage, called := r.e.judge(r.ctx, r.scope.cp.Settings.Model, c, text)
	if called {
		r.out.generation.ModelCalls++
		r.out.usage.Add(usage)
	}
	return detail
}
