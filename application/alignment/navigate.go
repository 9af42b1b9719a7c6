package alignment

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"focal/domain"
	"focal/ports"
)

// matching is a message's scores: against the rules and scenario entries,
// and, in a scenario, at its current step.
type matching struct {
	message *domain.MessageScores
	step    domain.StepScores
}

// match scores the message. asked is what the agent last asked at the
// current step; a short reply is read with it. unexplained leaves what
// explains the message's scores, and the step's when it explains later
// (domain.CompiledPolicy.StepExplainsLater), to the record's reader.
func match(cp *domain.CompiledPolicy, in ports.TurnInput, similarity []float64, asked string, unexplained bool) matching {
	var m matching
	if unexplained {
		m.message = cp.ScoreMessageUnexplained(in.Message)
	} else {
		m.message = cp.ScoreMessage(in.Message, similarity)
	}
	if pos := in.Session.Scenario; pos != nil {
		m.step = m.message.Step(pos.ScenarioID, pos.StepID, asked)
	}
	return m
}

// lastAsked is what the agent last asked at step pos: the step's
// instructions and the previous reply.
func lastAsked(ctx context.Context, cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, history *recentTurns) (string, error) {
	var parts []string
	if sc := cp.Scenario(pos.ScenarioID); sc != nil {
		if st := sc.Step(pos.StepID); st != nil && st.Instructions != "" {
			parts = append(parts, st.Instructions)
		}
	}
	reply, err := history.lastReply(ctx)
	if err != nil {
		return "", err
	}
	if reply != "" {
		parts = append(parts, reply)
	}
	return strings.Join(parts, "\n"), nil
}

// navigation is the turn's scenario move.
type navigation struct {
	decision domain.ScenarioDecision
	// position is where the turn answers from once the move is made: the
	// step entered or kept, nil outside scenarios.
	position *domain.ScenarioPosition
	// nested is true when the move starts a flow from inside the active
	// one, which waits; resumed is the waiting flow a flow left returns to.
	nested  bool
	resumed *domain.ScenarioPosition
}

// navigate decides the scenario move from pos (nil outside scenarios). It
// comes before rule selection so that a scenario entered this turn
// already brings its own rules into scope.
//
// guard evaluates a transition's when: a transition whose guard does not
// hold cannot be taken; one with a guard and no condition on the message
// is taken whenever its guard holds.
//
// Starting a scenario and moving within one are separate functions, each
// with its own navigation input, so that only one of those frames is on the
// stack at a time: a streaming turn's stack is as deep as its deepest step.
//
// A move from a step records in rec, a zero record of the turn's (its
// space's), or in one of its own when rec is nil.
func navigate(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, m *matching, guard func(domain.Transition) bool, rec *stepMoveRecord) navigation {
	if pos == nil {
		return startScenario(cp, m)
	}
	return stepMove(cp, pos, m, guard, rec)
}

// stepMove decides the move from the active step pos, recording it in rec
// (navigate).
func stepMove(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, m *matching, guard func(domain.Transition) bool, rec *stepMoveRecord) navigation {
	sc := cp.Scenario(pos.ScenarioID)
	if sc == nil || sc.Step(pos.StepID) == nil {
		return navigation{decision: domain.ScenarioDecision{
			Action: domain.ScenarioExit,
			Before: &domain.ScenarioRef{ID: pos.ScenarioID, Step: pos.StepID},
			Reason: "the scenario or step no longer exists in the agent's policy",
		}}
	}
	step := sc.Step(pos.StepID)
	if rec == nil {
		rec = new(stepMoveRecord)
	}
	in := domain.NavigationInput{Position: pos, Settings: cp.Settings,
		TargetTerminal: func(id string) bool { s := sc.Step(id); return s != nil && s.Terminal }}
	options := rec.optionsFor(len(step.Transitions), m.step.Exit != nil)
	// The scored transitions are only read by domain.Navigate: the few a
	// step usually has stay on the stack.
	var few [fewMoves]domain.ScoredTransition
	if n := len(step.Transitions); n > len(few) {
		in.Transitions = make([]domain.ScoredTransition, 0, n)
	} else {
		in.Transitions = few[:0:n]
	}
	if ev := m.step.Exit; ev != nil {
		in.ExitScore = ev.Score
		options = append(options, option(domain.MoveExit, "", *ev))
	}
	for i, tr := range step.Transitions {
		var ev domain.ConditionEvidence
		if i < len(m.step.Transitions) {
			ev = m.step.Transitions[i]
		}
		if tr.When != "" {
			switch {
			case !guard(tr):
				ev.Score = 0
			case !tr.MatchCondition().Exists():
				ev.Score = 1
			}
		}
		in.Transitions = append(in.Transitions, domain.ScoredTransition{Transition: tr, Score: ev.Score})
		options = append(options, option(domain.MoveAdvance, tr.To, ev))
	}
	if len(options) > 0 {
		options = append(options, option(domain.MoveStay, "", m.step.Stay))
	}
	d := domain.NavigateFrom(&in, &rec.before)
	d.Options = bestOptions(options)
	nav := navigation{decision: d}
	switch d.Action {
	case domain.ScenarioStay:
		nav.position = pos
	case domain.ScenarioAdvance:
		nav.position = &domain.ScenarioPosition{ScenarioID: d.After.ID, StepID: d.After.Step}
	}
	return nav
}

// stepMoveRecord is what a move from a step records, made in one
// allocation where each was one, or in the turn's space (TurnSpace): the
// options weighed, of which the decision keeps the best (for a step of up
// to fewMoves transitions), and the ref of the step moved from
// (domain.NavigateFrom), which is the step stayed at too.
type stepMoveRecord struct {
	options [fewMoves + 2]domain.ScenarioOption
	before  domain.ScenarioRef
}

// optionsFor are the options a move from a step of n transitions weighs,
// sized once (the exit, the transitions and staying) and in rec when they
// fit; nil when there are none to weigh.
func (rec *stepMoveRecord) optionsFor(n int, exit bool) []domain.ScenarioOption {
	switch {
	case n+2 > len(rec.options):
		return make([]domain.ScenarioOption, 0, n+2)
	case n > 0 || exit:
		return rec.options[: 0 : n+2]
	}
	return nil
}

// startScenario weighs every enabled scenario's entry condition.
func startScenario(cp *domain.CompiledPolicy, m *matching) navigation {
	var in domain.NavigationInput
	in.Settings = cp.Settings
	var options []domain.ScenarioOption
	var few [fewMoves]domain.ScoredScenario // as stepMove's transitions
	if n := enabledScenarios(cp); n > 0 {
		// Sized once: an enabled scenario each.
		in.Entries, options = few[:0:min(n, len(few))], make([]domain.ScenarioOption, 0, n)
		if n > len(few) {
			in.Entries = make([]domain.ScoredScenario, 0, n)
		}
	}
	for i := range cp.Policy.Scenarios {
		sc := &cp.Policy.Scenarios[i] // not copied: a scenario is large
		if !sc.Enabled {
			continue
		}
		ev := m.message.Entry(sc.ID)
		in.Entries = append(in.Entries, domain.ScoredScenario{ScenarioID: sc.ID, EntryStep: sc.EntryStepID, Score: ev.Score})
		options = append(options, option(domain.MoveStart, sc.ID, ev))
	}
	d := domain.Navigate(&in)
	if d.Action == domain.ScenarioStart {
		// The scenario started is explained even when the matcher named
		// no example for it among its best few.
		for i := range options {
			if options[i].Target == d.After.ID {
				options[i] = option(domain.MoveStart, d.After.ID, m.message.ExplainEntry(d.After.ID))
			}
		}
	}
	d.Options = bestOptions(options)
	nav := navigation{decision: d}
	if d.Action == domain.ScenarioStart {
		nav.position = &domain.ScenarioPosition{ScenarioID: d.After.ID, StepID: d.After.Step}
	}
	return nav
}

// fewMoves is how many transitions of a step, or scenarios to start, a
// turn weighs without allocating for them.
const fewMoves = 4

func option(move, target string, ev domain.ConditionEvidence) domain.ScenarioOption {
	return domain.ScenarioOption{Move: move, Target: target, Score: ev.Score, Lexical: ev.Lexical, Semantic: ev.Semantic, Example: ev.Example}
}

// bestOptions keeps the best few options, best first (declaration order
// among equals); nil when there were none.
func bestOptions(options []domain.ScenarioOption) []domain.ScenarioOption {
	slices.SortStableFunc(options, func(a, b domain.ScenarioOption) int { return cmp.Compare(b.Score, a.Score) })
	if len(options) > domain.MaxScenarioOptions {
		options = options[:domain.MaxScenarioOptions]
	}
	return options
}

// enabledScenarios counts the policy's enabled scenarios.
func enabledScenarios(cp *domain.CompiledPolicy) int {
	n := 0
	for i := range cp.Policy.Scenarios {
		if cp.Policy.Scenarios[i].Enabled {
			n++
		}
	}
	return n
}

// recentTurns reads the session's newest turns once per turn, when a step
// first needs them: the prompt's history, the previous reply a short
// answer is read with, what the rule judge sees.
type recentTurns struct {
	store  ports.TurnStore
	in     *ports.TurnInput // the turn's (its decisions' copy)
	want   int              // history_turns
	loaded bool
	turns  []domain.HistoryEntry // oldest first
}

func (r *recentTurns) load(ctx context.Context) ([]domain.HistoryEntry, error) {
	if r.loaded {
		return r.turns, nil
	}
	if r.in.TurnNumber > 1 {
		// Read with the session when the caller did; that read holds
		// history_turns turns, none when the agent keeps none, but a short
		// reply is still read with the previous one.
		h := r.in.History
		if h == nil || r.want < 1 {
			var err error
			if h, err = r.store.RecentHistory(ctx, r.in.Session.TenantID, r.in.Session.ID, max(r.want, 1)); err != nil {
				return nil, err
			}
		}
		r.turns = h
	}
	r.loaded = true
	return r.turns, nil
}

// forPrompt is the newest history_turns turns, oldest first.
func (r *recentTurns) forPrompt(ctx context.Context) ([]domain.HistoryEntry, error) {
	if r.want <= 0 {
		return nil, nil
	}
	h, err := r.load(ctx)
	return h[max(0, len(h)-r.want):], err
}

// lastReply is the reply of the newest completed turn, "" when none.
func (r *recentTurns) lastReply(ctx context.Context) (string, error) {
	h, err := r.load(ctx)
	if err != nil {
		return "", err
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Status == domain.TurnCompleted {
			return h[i].Response, nil
		}
	}
	return "", nil
}
