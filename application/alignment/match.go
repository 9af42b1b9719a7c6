package alignment

import (
	"fmt"

	"focal/domain"
)

// maxRecordedCandidates bounds the candidates kept in a turn's explanation;
// with thousands of rules the long tail says nothing.
const maxRecordedCandidates = 20

// navigate decides the scenario move and applies it to the turn's state.
// It runs before retrieval so that a scenario entered this turn already
// brings its own rules into scope.
func (e *Engine) navigate(t *turn) {
	cp, pos := t.cp, t.state.Scenario
	in := domain.NavigationInput{Position: pos, Settings: cp.Settings}
	if pos == nil {
		for _, sc := range cp.Policy.Scenarios {
			if !sc.Enabled {
				continue
			}
			in.Entries = append(in.Entries, domain.ScoredScenario{
				ScenarioID: sc.ID,
				EntryStep:  sc.EntryStepID,
				Score:      t.scores.Entry(sc.ID),
			})
		}
	} else if sc := cp.Scenario(pos.ScenarioID); sc == nil || sc.Step(pos.StepID) == nil {
		// The policy changed under the session: its scenario or step is gone.
		t.exp.Scenario = domain.ScenarioDecision{
			Action: domain.ScenarioExit,
			Before: &domain.ScenarioRef{ID: pos.ScenarioID, Step: pos.StepID},
			Reason: "the scenario or step no longer exists in the agent's policy",
		}
		t.state.ExitScenario()
		return
	} else {
		in.ExitScore = t.scores.Exit(sc.ID)
		step := sc.Step(pos.StepID)
		for i, score := range t.scores.Transitions(sc.ID, step.ID) {
			in.Transitions = append(in.Transitions, domain.ScoredTransition{Transition: step.Transitions[i], Score: score})
		}
		in.TargetTerminal = func(id string) bool { s := sc.Step(id); return s != nil && s.Terminal }
	}
	d := domain.Navigate(in)
	t.exp.Scenario = d
	switch d.Action {
	case domain.ScenarioStart, domain.ScenarioAdvance:
		t.state.EnterStep(d.After.ID, d.After.Step, t.in.TurnNumber)
	case domain.ScenarioExit, domain.ScenarioLoopExit:
		t.state.ExitScenario()
	}
}

// currentStep returns the step the turn answers from: the one entered or
// kept this turn, or nil outside scenarios.
func (t *turn) currentStep() *domain.Step {
	pos := t.state.Scenario
	if pos == nil {
		return nil
	}
	if sc := t.cp.Scenario(pos.ScenarioID); sc != nil {
		return sc.Step(pos.StepID)
	}
	return nil
}

// candidates scores the rules in scope and drops those that may not fire.
// A rule is in scope when it is in scope before or after this turn's
// navigation: a scenario started this turn brings its rules at once, and one
// left this turn still answers the message that left it. Without embeddings
// the cost follows the postings of the message's terms, not the number of
// rules.
func (e *Engine) candidates(t *turn) []domain.RuleCandidate {
	cp := t.cp
	before := t.in.Session.Scenario
	var cands []domain.RuleCandidate
	for _, hit := range t.scores.Rules() {
		r := hit.Rule
		if !cp.InScope(hit.Index, t.state.Scenario) && !cp.InScope(hit.Index, before) {
			continue
		}
		if why := t.state.FireBlocked(r, t.in.TurnNumber); why != "" {
			t.exp.Filtered = append(t.exp.Filtered, domain.FilteredRule{RuleID: r.ID, Reason: why})
			continue
		}
		cands = append(cands, domain.RuleCandidate{RuleID: r.ID, Score: hit.Score, Lexical: hit.Lexical,
			Semantic: hit.Semantic, Priority: r.Priority})
	}
	return cands
}

// selectRules decides the matches: by score and threshold, or, when the
// rule judge answered, the candidates it found applicable. Matched rules
// record a fire.
func (e *Engine) selectRules(t *turn, cands []domain.RuleCandidate, judged map[string]bool) {
	cp := t.cp
	var ranked, matched []domain.RuleCandidate
	if judged == nil {
		ranked, matched = domain.SelectRules(cands, cp.Settings.MatchThreshold, cp.Settings.TopK)
	} else {
		ranked, matched = domain.SelectJudged(cands, judged, cp.Settings.TopK)
	}
	if len(ranked) > maxRecordedCandidates {
		ranked = ranked[:maxRecordedCandidates]
	}
	t.exp.Candidates = append([]domain.RuleCandidate{}, ranked...)
	t.matched = matched
	t.exp.Matched = make([]domain.RuleMatch, 0, len(matched))
	for _, m := range matched {
		reason := fmt.Sprintf("condition matched with score %.2f ≥ threshold %.2f", m.Score, cp.Settings.MatchThreshold)
		if judged != nil {
			reason = fmt.Sprintf("rule judge found it applicable (score %.2f)", m.Score)
		}
		t.exp.Matched = append(t.exp.Matched, domain.RuleMatch{RuleID: m.RuleID, Score: m.Score, Reason: reason})
		t.state.RecordFire(m.RuleID, t.in.TurnNumber)
	}
}
