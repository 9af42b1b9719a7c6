package domain

import "fmt"

// ScoredScenario is a scenario's entry-condition score for a message.
type ScoredScenario struct {
	ScenarioID string
	EntryStep  string
	Score      float64
}

// ScoredTransition is a transition's condition score for a message.
type ScoredTransition struct {
	Transition Transition
	Score      float64
}

// NavigationInput is what scenario navigation decides from. Scores are
// computed by the caller (lexically, semantically or both).
type NavigationInput struct {
	// Position is the active scenario position, nil when none is active.
	Position *ScenarioPosition
	// Entries scores every enabled scenario's entry condition; used only
	// when no scenario is active. Declaration order breaks ties.
	Entries []ScoredScenario
	// ExitScore scores the active scenario's exit condition (0 when it has none).
	ExitScore float64
	// Transitions scores the current step's transitions.
	Transitions []ScoredTransition
	// TargetTerminal reports whether a step of the active scenario is terminal.
	TargetTerminal func(stepID string) bool
	Settings       AgentSettings
}

// Navigate decides the scenario move for one message. It is deterministic:
// the same input always gives the same decision. The input is read through
// a pointer: it holds the agent's settings, and a copy in every frame of
// the turn's call path would deepen the stack a streaming turn waits on.
func Navigate(in *NavigationInput) ScenarioDecision { return NavigateFrom(in, nil) }

// NavigateFrom is Navigate with the ref of the active position that the
// decision points to (its Before, and its After when it stays) written to
// before, the caller's, so that the decision makes none of its own; nil:
// Navigate's own. A parameter of its own, not a field of in: the decision
// keeps it, and what in holds stays the caller's (on its stack).
func NavigateFrom(in *NavigationInput, before *ScenarioRef) ScenarioDecision {
	s := &in.Settings
	if in.Position == nil {
		return startScenario(in)
	}
	if before == nil {
		before = new(ScenarioRef)
	}
	*before = ScenarioRef{ID: in.Position.ScenarioID, Step: in.Position.StepID}
	d := ScenarioDecision{Action: ScenarioStay, Before: before, After: before}
	if in.ExitScore >= s.ScenarioEntryThreshold {
		d.Action, d.After, d.Score = ScenarioExit, nil, in.ExitScore
		d.Reason = fmt.Sprintf("exit condition scored %.2f ≥ %.2f", in.ExitScore, s.ScenarioEntryThreshold)
		return d
	}
	i, reason := pickTransition(in.Transitions, s)
	if i < 0 {
		d.Reason = reason
		return d
	}
	b := &in.Transitions[i]
	tr := b.Transition
	d.Transition, d.Score = &tr, b.Score
	if in.Position.StepVisits[tr.To] >= s.MaxStepVisits {
		d.Action, d.After = ScenarioLoopExit, nil
		d.Reason = fmt.Sprintf("step %s already entered %d times: leaving the scenario as a loop", tr.To, in.Position.StepVisits[tr.To])
		return d
	}
	d.Action = ScenarioAdvance
	d.After = &ScenarioRef{ID: in.Position.ScenarioID, Step: tr.To}
	d.Reason = fmt.Sprintf("transition to %s scored %.2f", tr.To, b.Score)
	if in.TargetTerminal != nil && in.TargetTerminal(tr.To) {
		d.Reason += "; terminal step: the scenario ends after this turn"
	}
	return d
}

// pickTransition chooses the transition to take (its index), or says why
// none (-1): none cleared the threshold, or several within the margin of
// the best tie on priority while leading to different steps. Transitions
// are read in place: copies of them would sit on the turn's stack.
func pickTransition(ts []ScoredTransition, s *AgentSettings) (int, string) {
	best := -1
	for i := range ts {
		if best < 0 || better(&ts[i], &ts[best]) {
			best = i
		}
	}
	if best < 0 || ts[best].Score < s.TransitionThreshold {
		return -1, "no transition cleared the threshold"
	}
	// Scores within the margin of the best do not tell transitions apart:
	// among those, the highest priority wins (the earliest among equals),
	// and a tie at the top keeps the scenario where it is.
	b := &ts[best]
	margin := s.TransitionMarginOrDefault()
	top, close, tied := -1, 0, false
	for i := range ts {
		t := &ts[i]
		if t.Score < s.TransitionThreshold || i != best && b.Score-t.Score >= margin {
			continue // the best is always among the close ones, even at a margin of 0
		}
		close++
		switch {
		case top < 0:
			top = i
		case t.Transition.Priority > ts[top].Transition.Priority:
			top, tied = i, false
		case t.Transition.Priority == ts[top].Transition.Priority && t.Transition.To != ts[top].Transition.To:
			tied = true
		}
	}
	if tied {
		return -1, fmt.Sprintf("ambiguous: %d transitions score within the margin %.2f of the best (%.2f) with equal priority",
			close, margin, b.Score)
	}
	return top, ""
}

// better orders transitions by score, then priority, then declaration order
// (the earlier one wins, so a later equal one is never "better").
func better(a, b *ScoredTransition) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Transition.Priority > b.Transition.Priority
}

func startScenario(in *NavigationInput) ScenarioDecision {
	d := ScenarioDecision{Action: ScenarioNone}
	best := -1
	for i, e := range in.Entries {
		if best < 0 || e.Score > in.Entries[best].Score {
			best = i
		}
	}
	if best < 0 || in.Entries[best].Score < in.Settings.ScenarioEntryThreshold {
		d.Reason = "no scenario entry condition cleared the threshold"
		return d
	}
	e := in.Entries[best]
	d.Action, d.Score = ScenarioStart, e.Score
	d.After = &ScenarioRef{ID: e.ScenarioID, Step: e.EntryStep}
	d.Reason = fmt.Sprintf("entry condition scored %.2f ≥ %.2f", e.Score, in.Settings.ScenarioEntryThreshold)
	return d
}
