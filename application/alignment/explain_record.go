package alignment

import (
	"context"
	"fmt"
	"slices"

	"golang.org/x/sync/singleflight"

	"focal/application/bounded"
	"focal/domain"
	"focal/ports"
)

// A words-only turn (Deps.DeferExplanations) records its candidates,
// matches, scenario entries and step options without the example each is
// most like and the words that weighed most: finding them was a third of
// matching, and only a reader of the record wants them. The record keeps
// what gives them back exactly: the message, the policy version, the
// candidates and matches by rule, the scenario move. The global matcher
// reads the message alone, so scoring it again against the same version
// gives the same scores, and explaining them in the order the turn would
// have gives the same explanation. A step's matcher reads a short reply
// with what the agent last asked: the record keeps that
// (Retrieval.Context) when it counted, and the step's options are
// explained again with it. A step with two transitions to one step is
// explained as the turn runs: an option names only the step it leads to.

// completeExplanation fills in what a deferred explanation x of message
// left out, as the turn would have written it had it not deferred, and
// clears x.Retrieval.Deferred. cp is the turn's policy version, compiled
// without vectors (a deferred turn read words only).
func completeExplanation(cp *domain.CompiledPolicy, message string, x *domain.Explanation) {
	s := cp.ScoreMessage(message, nil)
	defer s.Release()
	completeStep(cp, message, x)
	// In the turn's order: the scenario started first (its entry is
	// explained even when the matcher named no example for it, which
	// changes what the rules sharing its condition are given), then the
	// candidates, then the matches left without an example.
	dec := &x.Scenario
	for i := range dec.Options {
		if o := &dec.Options[i]; o.Move == domain.MoveStart {
			o.Example = s.Entry(o.Target).Example
		}
	}
	if dec.Action == domain.ScenarioStart && dec.Before == nil {
		ev := s.ExplainEntry(dec.After.ID)
		for i := range dec.Options {
			if o := &dec.Options[i]; o.Move == domain.MoveStart && o.Target == dec.After.ID {
				o.Example = ev.Example
			}
		}
	}
	for i := range x.Candidates {
		c := &x.Candidates[i]
		ev := s.Rule(cp.RuleIndex(c.RuleID))
		c.Example, c.Terms = ev.Example, ev.Terms
	}
	sel := selection{ranked: x.Candidates, matched: make([]domain.RuleCandidate, len(x.Matched))}
	for i, m := range x.Matched {
		ev := s.Rule(cp.RuleIndex(m.RuleID))
		sel.matched[i] = domain.RuleCandidate{RuleID: m.RuleID, Example: ev.Example, Terms: ev.Terms}
	}
	sel = explainMatches(sel, s, cp)
	for i, m := range sel.matched {
		// matchReason ends with the example when there is one.
		if m.Example != "" {
			r := &x.Matched[i].Reason
			*r = string(appendQuoted(append([]byte(*r), "; most like the example "...), m.Example))
		}
	}
	x.Retrieval.Deferred, x.Retrieval.Context = false, ""
}

// completeStep names the examples of the options a deferred turn weighed
// at its step (stepMove's: the exit, the transitions, staying; the step
// is the one the decision left from), read with the context the record
// kept.
func completeStep(cp *domain.CompiledPolicy, message string, x *domain.Explanation) {
	dec := &x.Scenario
	if dec.Before == nil || !cp.StepExplainsLater(dec.Before.ID, dec.Before.Step) {
		return
	}
	var scores *domain.StepScores
	for i := range dec.Options {
		o := &dec.Options[i]
		if o.Move == domain.MoveStart {
			continue
		}
		if scores == nil {
			st := cp.ScoreStep(dec.Before.ID, dec.Before.Step, message, x.Retrieval.Context, nil)
			scores = &st
		}
		switch o.Move {
		case domain.MoveExit:
			if scores.Exit != nil {
				o.Example = scores.Exit.Example
			}
		case domain.MoveStay:
			o.Example = scores.Stay.Example
		case domain.MoveAdvance:
			trs := cp.Scenario(dec.Before.ID).Step(dec.Before.Step).Transitions
			if k := slices.IndexFunc(trs, func(tr domain.Transition) bool { return tr.To == o.Target }); k >= 0 && k < len(scores.Transitions) {
				o.Example = scores.Transitions[k].Example
			}
		}
	}
}

// Bounds of the compiled policy versions a RecordExplainer keeps of its
// own, beside the engine's: records are read far less often than turns
// run, mostly the newest ones, of the version the engine has compiled;
// an older version read is compiled once for the records read with it.
const (
	recordCacheSize  = 8
	recordCacheBytes = 64 << 20
)

// RecordExplainer completes the explanations of turn records that left
// them to their reader (Deps.DeferExplanations). Safe for concurrent use.
type RecordExplainer struct {
	engine   *Engine
	policies ports.PolicyHistory
	compiled *bounded.Cache[compiledKey, *domain.CompiledPolicy]
	compile  singleflight.Group
}

// NewRecordExplainer returns the explainer of engine's records, reading
// the policy versions it has not compiled from policies.
func NewRecordExplainer(engine *Engine, policies ports.PolicyHistory) (*RecordExplainer, error) {
	if engine == nil || policies == nil {
		return nil, fmt.Errorf("alignment: record explainer needs the engine and the policy history")
	}
	cache, err := bounded.New[compiledKey, *domain.CompiledPolicy](recordCacheSize, recordCacheBytes,
		func(cp *domain.CompiledPolicy) int64 { return compiledPerTextByte * int64(cp.Policy.TextBytes()) })
	if err != nil {
		return nil, err
	}
	return &RecordExplainer{engine: engine, policies: policies, compiled: cache}, nil
}

// CompleteTurn fills in t's explanation when the turn deferred it; any
// other record is left as it is. A record whose policy version can no
// longer be read (its agent deleted) is given without what it deferred.
func (r *RecordExplainer) CompleteTurn(ctx context.Context, t *domain.Turn) error {
	if !t.Explanation.Retrieval.Deferred {
		return nil
	}
	cp, err := r.compiledVersion(ctx, compiledKey{tenantID: t.TenantID, agentID: t.AgentID, version: t.AgentVersion})
	switch {
	case domain.IsCode(err, domain.CodeAgentNotFound), domain.IsCode(err, domain.CodeNotFound):
		t.Explanation.Retrieval.Deferred = false
		return nil
	case err != nil:
		return err
	}
	completeExplanation(cp, t.Message, &t.Explanation)
	return nil
}

// compiledVersion is the words-only compiled form of the version key
// names: the engine's when it has it, else this explainer's, compiled
// once for concurrent reads, in one of the engine's compile slots.
func (r *RecordExplainer) compiledVersion(ctx context.Context, key compiledKey) (*domain.CompiledPolicy, error) {
	if cp, ok := r.engine.compiled.Get(key); ok {
		return cp, nil
	}
	if cp, ok := r.compiled.Get(key); ok {
		return cp, nil
	}
	v, err, _ := r.compile.Do(key.flightKey(), func() (any, error) {
		if cp, ok := r.compiled.Get(key); ok {
			return cp, nil
		}
		p, err := r.policies.GetPolicyVersion(ctx, key.tenantID, key.agentID, key.version)
		if err != nil {
			return nil, err
		}
		release, err := r.engine.takeCompileSlot(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		cp, err := domain.CompilePolicy(p)
		if err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "agent policy cannot be compiled")
		}
		r.compiled.Add(key, cp)
		return cp, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*domain.CompiledPolicy), nil
}
