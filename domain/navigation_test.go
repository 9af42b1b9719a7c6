package domain_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// Default thresholds: entry 0.5, transition 0.5, margin 0.1, max visits 3.
var navSettings = domain.AgentSettings{}.WithDefaults()

func tr(to string, score float64, priority int) domain.ScoredTransition {
	return domain.ScoredTransition{Transition: domain.Transition{To: to, Condition: "go to " + to, Priority: priority}, Score: score}
}

func entry(id, step string, score float64) domain.ScoredScenario {
	return domain.ScoredScenario{ScenarioID: id, EntryStep: step, Score: score}
}

func TestNavigateWithoutActiveScenario(t *testing.T) {
	tests := []struct {
		name     string
		entries  []domain.ScoredScenario
		action   string
		after    *domain.ScenarioRef
		score    float64
		inReason string
	}{
		{"no scenarios", nil, domain.ScenarioNone, nil, 0, "no scenario entry condition cleared"},
		{"best entry under the threshold", []domain.ScoredScenario{entry("a", "s1", 0.49), entry("b", "s1", 0.2)},
			domain.ScenarioNone, nil, 0, "no scenario entry condition cleared"},
		{"entry exactly at the threshold starts", []domain.ScoredScenario{entry("a", "s1", 0.5)},
			domain.ScenarioStart, &domain.ScenarioRef{ID: "a", Step: "s1"}, 0.5, "0.50"},
		{"best entry wins", []domain.ScoredScenario{entry("a", "a1", 0.6), entry("b", "b1", 0.9), entry("c", "c1", 0.7)},
			domain.ScenarioStart, &domain.ScenarioRef{ID: "b", Step: "b1"}, 0.9, "entry condition scored 0.90"},
		{"declaration order breaks entry ties", []domain.ScoredScenario{entry("a", "a1", 0.3), entry("b", "b1", 0.8), entry("c", "c1", 0.8)},
			domain.ScenarioStart, &domain.ScenarioRef{ID: "b", Step: "b1"}, 0.8, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := domain.Navigate(&domain.NavigationInput{Entries: tt.entries, Settings: navSettings})
			require.Equal(t, tt.action, d.Action)
			require.Nil(t, d.Before)
			require.Equal(t, tt.after, d.After)
			require.Equal(t, tt.score, d.Score)
			require.Nil(t, d.Transition)
			require.NotEmpty(t, d.Reason)
			require.Contains(t, d.Reason, tt.inReason)
		})
	}
}

// A transition margin of 0 (which validation allows) means no margin: the
// best transition is taken, an equal score losing on declaration order as
// in ranking. It used to find no close transition at all, not even the
// best, and index an empty list (a panic on every such turn).
func TestNavigateWithoutATransitionMargin(t *testing.T) {
	settings := navSettings
	zero := 0.0
	settings.TransitionMargin = &zero
	for _, ts := range [][]domain.ScoredTransition{
		{tr("label", 0.8, 0), tr("done", 0.79, 5)},
		{tr("done", 0.6, 0), tr("label", 0.8, 0)},
		{tr("label", 0.8, 0), tr("done", 0.8, 0)},
	} {
		d := domain.Navigate(&domain.NavigationInput{Position: &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask"},
			Transitions: ts, Settings: settings, TargetTerminal: func(string) bool { return false }})
		require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
		require.Equal(t, "label", d.Transition.To)
	}
}

// docs/agent-bundle.md (Scenarios): the best transition is taken when it
// leads the runner-up by transition_margin; a lead of exactly the margin
// is enough, so the runner-up's higher priority does not count.
func TestNavigateLeadOfExactlyTheMargin(t *testing.T) {
	settings := navSettings
	quarter := 0.25 // exact in binary, as 0.1 is not
	settings.TransitionMargin = &quarter
	navigateTo := func(ts ...domain.ScoredTransition) string {
		d := domain.Navigate(&domain.NavigationInput{Position: &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask"},
			Transitions: ts, Settings: settings, TargetTerminal: func(string) bool { return false }})
		require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
		return d.Transition.To
	}
	require.Equal(t, "label", navigateTo(tr("label", 0.75, 0), tr("done", 0.5, 5)), "a lead of exactly the margin")
	require.Equal(t, "done", navigateTo(tr("label", 0.75, 0), tr("done", 0.5001, 5)), "a lead under the margin")
}

func TestNavigateActiveScenario(t *testing.T) {
	here := &domain.ScenarioRef{ID: "returns", Step: "ask"}
	to := func(step string) *domain.ScenarioRef { return &domain.ScenarioRef{ID: "returns", Step: step} }
	tests := []struct {
		name        string
		exit        float64
		transitions []domain.ScoredTransition
		visits      map[string]int
		terminal    string
		action      string
		after       *domain.ScenarioRef
		via         string // transition taken, "" for none
		inReason    string
	}{
		{name: "exit condition over the threshold exits", exit: 0.6, transitions: []domain.ScoredTransition{tr("label", 0.9, 0)},
			action: domain.ScenarioExit, after: nil, inReason: "exit condition scored 0.60"},
		{name: "exit condition under the threshold is ignored", exit: 0.49, transitions: []domain.ScoredTransition{tr("label", 0.9, 0)},
			action: domain.ScenarioAdvance, after: to("label"), via: "label"},
		{name: "best transition over the threshold advances", transitions: []domain.ScoredTransition{tr("label", 0.4, 0), tr("done", 0.8, 0)},
			action: domain.ScenarioAdvance, after: to("done"), via: "done", inReason: "transition to done scored 0.80"},
		{name: "nothing clears the threshold: stay", transitions: []domain.ScoredTransition{tr("label", 0.49, 0), tr("done", 0.1, 9)},
			action: domain.ScenarioStay, after: here, inReason: "no transition cleared the threshold"},
		{name: "no transitions: stay", action: domain.ScenarioStay, after: here, inReason: "no transition cleared the threshold"},
		{name: "runner-up within margin, equal priority: ambiguous stay",
			transitions: []domain.ScoredTransition{tr("label", 0.8, 2), tr("done", 0.78, 2)},
			action:      domain.ScenarioStay, after: here, inReason: "ambiguous"},
		{name: "equal scores, equal priority: ambiguous stay",
			transitions: []domain.ScoredTransition{tr("label", 0.7, 0), tr("done", 0.7, 0)},
			action:      domain.ScenarioStay, after: here, inReason: "ambiguous"},
		{name: "runner-up within margin with higher priority wins",
			transitions: []domain.ScoredTransition{tr("label", 0.8, 0), tr("done", 0.78, 5)},
			action:      domain.ScenarioAdvance, after: to("done"), via: "done"},
		{name: "best within margin with higher priority wins",
			transitions: []domain.ScoredTransition{tr("label", 0.78, 0), tr("done", 0.8, 5)},
			action:      domain.ScenarioAdvance, after: to("done"), via: "done"},
		{name: "equal scores: higher priority wins",
			transitions: []domain.ScoredTransition{tr("label", 0.7, 0), tr("done", 0.7, 3)},
			action:      domain.ScenarioAdvance, after: to("done"), via: "done"},
		{name: "outside the margin the score wins over priority",
			transitions: []domain.ScoredTransition{tr("label", 0.9, 0), tr("done", 0.7, 100)},
			action:      domain.ScenarioAdvance, after: to("label"), via: "label"},
		{name: "close transitions to one step are no tie",
			transitions: []domain.ScoredTransition{tr("label", 0.8, 2), tr("label", 0.78, 2)},
			action:      domain.ScenarioAdvance, after: to("label"), via: "label"},
		{name: "a higher priority settles a tie between lower ones",
			transitions: []domain.ScoredTransition{tr("label", 0.8, 0), tr("done", 0.79, 0), tr("refund", 0.78, 5)},
			action:      domain.ScenarioAdvance, after: to("refund"), via: "refund"},
		{name: "runner-up under the threshold does not make it ambiguous",
			transitions: []domain.ScoredTransition{tr("label", 0.52, 0), tr("done", 0.49, 0)},
			action:      domain.ScenarioAdvance, after: to("label"), via: "label"},
		{name: "target entered max times: loop exit",
			transitions: []domain.ScoredTransition{tr("label", 0.9, 0)}, visits: map[string]int{"ask": 1, "label": 3},
			action: domain.ScenarioLoopExit, after: nil, via: "label", inReason: "step label already entered 3 times"},
		{name: "target entered fewer times advances",
			transitions: []domain.ScoredTransition{tr("label", 0.9, 0)}, visits: map[string]int{"ask": 1, "label": 2},
			action: domain.ScenarioAdvance, after: to("label"), via: "label"},
		{name: "terminal target is mentioned in the reason",
			transitions: []domain.ScoredTransition{tr("done", 0.9, 0)}, terminal: "done",
			action: domain.ScenarioAdvance, after: to("done"), via: "done", inReason: "terminal step"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := domain.NavigationInput{
				Position:    &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask", StepVisits: tt.visits},
				ExitScore:   tt.exit,
				Transitions: tt.transitions,
				Settings:    navSettings,
				TargetTerminal: func(step string) bool {
					return step == tt.terminal
				},
			}
			d := domain.Navigate(&in)
			require.Equal(t, tt.action, d.Action, d.Reason)
			require.Equal(t, here, d.Before)
			require.Equal(t, tt.after, d.After)
			if tt.via == "" {
				require.Nil(t, d.Transition)
			} else {
				require.NotNil(t, d.Transition)
				require.Equal(t, tt.via, d.Transition.To)
			}
			require.Contains(t, d.Reason, tt.inReason)
			if tt.terminal == "" {
				require.NotContains(t, d.Reason, "terminal")
			}
			require.Equal(t, d, domain.Navigate(&in), "navigation must be deterministic")
		})
	}
}

// NavigateFrom writes the ref of the step moved from where the caller
// says and decides as Navigate does: on many generated moves the two
// decisions are equal, and a decision from a step points at the caller's
// ref (as Before, and as After when it stays).
func TestNavigateFromDecidesAsNavigate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	steps := []string{"a", "b", "c"}
	for i := range 3000 {
		in := domain.NavigationInput{Settings: navSettings, ExitScore: rng.Float64() * 0.7}
		if rng.IntN(4) > 0 {
			in.Position = &domain.ScenarioPosition{ScenarioID: "flow", StepID: steps[rng.IntN(len(steps))],
				StepVisits: map[string]int{"b": rng.IntN(4)}}
		}
		for range rng.IntN(4) {
			in.Transitions = append(in.Transitions, tr(steps[rng.IntN(len(steps))], rng.Float64(), rng.IntN(2)))
			in.Entries = append(in.Entries, entry(steps[rng.IntN(len(steps))], "s", rng.Float64()))
		}
		want := domain.Navigate(&in)
		var ref domain.ScenarioRef
		got := domain.NavigateFrom(&in, &ref)
		require.Equal(t, want, got, "move %d", i)
		if in.Position != nil {
			require.Same(t, &ref, got.Before, "move %d", i)
			if got.Action == domain.ScenarioStay {
				require.Same(t, &ref, got.After, "move %d", i)
			}
		}
	}
}

// docs/agent-bundle.md (Agent settings, Scenarios) documents the defaults
// navigation runs with: entry and transition thresholds 0.5 (a score at
// the threshold clears it), a transition margin of 0.1 and 3 entries into
// a step. Each case sits just either side of one documented number, so a
// default that moves away from it fails here.
func TestNavigateAtTheDocumentedDefaults(t *testing.T) {
	here := &domain.ScenarioRef{ID: "returns", Step: "ask"}
	to := func(step string) *domain.ScenarioRef { return &domain.ScenarioRef{ID: "returns", Step: step} }
	defaults := domain.AgentSettings{}.WithDefaults()
	active := func(exit float64, visits map[string]int, ts ...domain.ScoredTransition) domain.ScenarioDecision {
		return domain.Navigate(&domain.NavigationInput{
			Position:  &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask", StepVisits: visits},
			ExitScore: exit, Transitions: ts, Settings: defaults, TargetTerminal: func(string) bool { return false },
		})
	}
	start := func(score float64) domain.ScenarioDecision {
		return domain.Navigate(&domain.NavigationInput{Entries: []domain.ScoredScenario{entry("a", "s1", score)}, Settings: defaults})
	}

	// scenario_entry_threshold 0.5: to start ...
	require.Equal(t, domain.ScenarioStart, start(0.5).Action, "an entry scoring 0.5 starts")
	require.Equal(t, domain.ScenarioNone, start(0.499).Action, "an entry scoring 0.499 does not")
	// ... and to leave on the exit condition.
	require.Equal(t, domain.ScenarioExit, active(0.5, nil, tr("label", 0.9, 0)).Action, "an exit scoring 0.5 exits")
	require.Equal(t, domain.ScenarioAdvance, active(0.499, nil, tr("label", 0.9, 0)).Action, "an exit scoring 0.499 does not")

	// transition_threshold 0.5.
	d := active(0, nil, tr("label", 0.5, 0))
	require.Equal(t, domain.ScenarioAdvance, d.Action, "a transition scoring 0.5 is taken: %s", d.Reason)
	require.Equal(t, to("label"), d.After)
	d = active(0, nil, tr("label", 0.499, 0))
	require.Equal(t, domain.ScenarioStay, d.Action, "a transition scoring 0.499 is not")
	require.Equal(t, here, d.After)

	// transition_margin 0.1: a runner-up 0.095 behind is within the
	// margin, so its higher priority wins; 0.105 behind it is not, so the
	// best score wins.
	d = active(0, nil, tr("label", 0.9, 0), tr("done", 0.805, 5))
	require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
	require.Equal(t, "done", d.Transition.To, "a runner-up 0.095 behind is within the margin: priority decides")
	d = active(0, nil, tr("label", 0.9, 0), tr("done", 0.795, 5))
	require.Equal(t, domain.ScenarioAdvance, d.Action, d.Reason)
	require.Equal(t, "label", d.Transition.To, "a runner-up 0.105 behind is outside the margin: the score decides")
	// Within the margin at equal priority the scenario stays; outside it the best is taken.
	require.Equal(t, domain.ScenarioStay, active(0, nil, tr("label", 0.9, 0), tr("done", 0.805, 0)).Action)
	require.Equal(t, domain.ScenarioAdvance, active(0, nil, tr("label", 0.9, 0), tr("done", 0.795, 0)).Action)

	// max_step_visits 3: a step entered twice is entered again, one entered
	// three times is left as a loop.
	require.Equal(t, domain.ScenarioAdvance, active(0, map[string]int{"label": 2}, tr("label", 0.9, 0)).Action)
	require.Equal(t, domain.ScenarioLoopExit, active(0, map[string]int{"label": 3}, tr("label", 0.9, 0)).Action)
}
