package alignment

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
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

// TestReclaimedTurnSpaceHoldsNothing: a reclaimed space keeps no pointer
// to what its last run made (the pool must not keep a turn's garbage),
// and keeps its candidates' array, cleared.
func TestReclaimedTurnSpaceHoldsNothing(t *testing.T) {
	s := &TurnSpace{taken: true}
	s.run.out.Response = "x"
	s.run.decided.note = "y"
	s.run.timings[0] = domain.StepTiming{Step: "policy", DurationMS: 1}
	s.move.before = domain.ScenarioRef{ID: "flow", Step: "s0"}
	s.BeganAt(time.Now())
	kept := keptArray(&s.kept, 3)
	kept[2] = domain.RuleCandidate{RuleID: "r", Terms: []string{"t"}}
	s.Reclaim()
	require.Len(t, s.kept, 2*maxRecordedCandidates, "the array is kept for the next run")
	require.Equal(t, make([]domain.RuleCandidate, len(s.kept)), s.kept, "cleared")
	s.kept = nil
	require.Equal(t, TurnSpace{}, *s)
}
