package memory

import (
	"maps"
	"slices"

	"focal/domain"
)

// cloneTurn deep-copies a turn field by field: it runs on every commit and
// for every turn a read returns (ten per turn for prompt history), where a
// JSON round trip would cost tens of microseconds. TestCloneTurnIsDeep
// fails when a field is added to domain.Turn that this does not copy.
func cloneTurn(t *domain.Turn) *domain.Turn {
	if t == nil {
		return nil
	}
	c := *t
	c.Timings = slices.Clone(t.Timings)
	c.Metadata = cloneAnyMap(t.Metadata)
	c.Deltas = slices.Clone(t.Deltas)
	c.SessionAfter = t.SessionAfter.Clone()
	c.Explanation = cloneExplanation(t.Explanation)
	return &c
}

func cloneExplanation(e domain.Explanation) domain.Explanation {
	c := e
	if e.Retrieval.Judge != nil {
		j := *e.Retrieval.Judge
		j.Asked = slices.Clone(j.Asked)
		j.Applicable = slices.Clone(j.Applicable)
		c.Retrieval.Judge = &j
	}
	c.Candidates = slices.Clone(e.Candidates)
	c.Filtered = slices.Clone(e.Filtered)
	c.Matched = slices.Clone(e.Matched)
	c.Scenario.Before = clonePtr(e.Scenario.Before)
	c.Scenario.After = clonePtr(e.Scenario.After)
	c.Scenario.Transition = clonePtr(e.Scenario.Transition)
	if e.ToolCalls != nil {
		c.ToolCalls = make([]domain.ToolCall, len(e.ToolCalls))
		for i, tc := range e.ToolCalls {
			tc.Input = cloneAnyMap(tc.Input)
			tc.Output = cloneAnyMap(tc.Output)
			c.ToolCalls[i] = tc
		}
	}
	c.Enforcement.Rules = slices.Clone(e.Enforcement.Rules)
	c.Enforcement.Violations = slices.Clone(e.Enforcement.Violations)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// cloneAnyMap deep-copies a JSON-like map (nested maps and lists).
func cloneAnyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = cloneAny(v)
	}
	return out
}

func cloneAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneAnyMap(x)
	case []any:
		out := slices.Clone(x)
		for i, e := range out {
			out[i] = cloneAny(e)
		}
		return out
	}
	return v
}
