package alignment

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

// lending is a context that lends a TurnSpace, as the chat use case's
// turn context does.
type lending struct {
	context.Context
	space *TurnSpace
}

func (c lending) Value(key any) any {
	if _, ok := key.(TurnSpaceKey); ok {
		return c.space
	}
	return c.Context.Value(key)
}

// TestLentTurnSpaceRunsAsItsOwn holds a run in a lent space, one other
// turns ran in and reclaimed before, to the same run in a space of its own:
// the same outcome, session after and explanation, turn after turn of a
// returning user's messages over 100 rules and a scenario, with
// explanations and then without (left to the reader). The run takes the space it is
// lent (its outcome is in it), and a second run under the same context,
// the space taken, allocates its own.
func TestLentTurnSpaceRunsAsItsOwn(t *testing.T) {
	train, test := benchPhrasings(t)
	p := benchPolicy(100, train)
	p.Agent.Settings.MatchThreshold = 0.3
	require.Empty(t, p.Validate())
	store := memory.New(clock.System{})
	session := benchSession(t, store)
	sink := func(string) error { return nil }
	// One space for both engines: the candidates' examples and terms of
	// the explained turns must not reach the turns that leave them.
	space := new(TurnSpace)
	for _, deferred := range []bool{false, true} {
		eng, err := New(Deps{Model: llm.Offline{}, History: store, Clock: clock.NewFake(), DeferExplanations: deferred})
		require.NoError(t, err)
		in := ports.TurnInput{Policy: p, Session: session, TurnNumber: session.TurnCount + 1, RequestID: "lent"}
		for i := range 60 {
			in.Message = test[(i*37)%len(test)].Text
			if i%5 == 4 {
				in.Session = session.Clone()
				in.Session.EnterStep(p.Scenarios[0].ID, p.Scenarios[0].EntryStepID, in.TurnNumber-1)
			} else {
				in.Session = session
			}
			own, err := eng.RunTurn(context.Background(), in, sink)
			require.NoError(t, err)
			lent, err := eng.RunTurn(lending{context.Background(), space}, in, sink)
			require.NoError(t, err)
			require.Same(t, &space.run.out, lent, "the run takes the space it is lent")
			require.Equal(t, *own, *lent, fmt.Sprintf("turn %d (deferred %v): %q", i, deferred, in.Message))
			again, err := eng.RunTurn(lending{context.Background(), space}, in, sink)
			require.NoError(t, err)
			require.NotSame(t, &space.run.out, again, "a space already taken is not taken again")
			require.Equal(t, *own, *again)
			space.Reclaim()
		}
	}
}

// TestReclaimedTurnSpaceHoldsNothing: a reclaimed space keeps no pointer
// to what its last run made (the pool must not keep a turn's garbage),
// and keeps its candidates' array, cleared.
func TestReclaimedTurnSpaceHoldsNothing(t *testing.T) {
	s := &TurnSpace{taken: true}
	s.run.out.Response = "x"
	s.run.decided.note = "y"
	s.run.timings[0] = domain.StepTiming{Step: "policy", DurationMS: 1}
	kept := keptArray(&s.kept, 3)
	kept[2] = domain.RuleCandidate{RuleID: "r", Terms: []string{"t"}}
	s.Reclaim()
	require.Len(t, s.kept, 2*maxRecordedCandidates, "the array is kept for the next run")
	require.Equal(t, make([]domain.RuleCandidate, len(s.kept)), s.kept, "cleared")
	s.kept = nil
	require.Equal(t, TurnSpace{}, *s)
}
