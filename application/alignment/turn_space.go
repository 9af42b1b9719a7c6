package alignment

import "context"

// TurnSpace is the memory a turn's run takes once (its decisions, outcome
// and step timings: a turnRun, some 1.8 KB a turn), lent to RunTurn by a
// caller that knows when the outcome is done with, so that one turn's
// space serves the next rather than being garbage at every turn. The
// caller lends it through the run's context, which answers TurnSpaceKey
// with it, and reclaims it once nothing reads the outcome RunTurn
// returned, nor anything the outcome holds (its timings and parts of its
// explanation are in the space). A run without one allocates its own.
type TurnSpace struct {
	run turnRun
	// taken is set by the run that took the space: a second run under the
	// same context allocates its own.
	taken bool
}

// TurnSpaceKey is the context key a lent TurnSpace is found under.
type TurnSpaceKey struct{}

// Reclaim readies s for another run: what the last one left is dropped.
func (s *TurnSpace) Reclaim() { *s = TurnSpace{} }

// turnRunIn is the space a run takes: the TurnSpace ctx lends, when it
// lends one not taken yet, else one of the run's own.
func turnRunIn(ctx context.Context) *turnRun {
	if s, ok := ctx.Value(TurnSpaceKey{}).(*TurnSpace); ok && s != nil && !s.taken {
		s.taken = true
		return &s.run
	}
	return new(turnRun)
}
