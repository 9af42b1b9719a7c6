package alignment

import (
	"context"
	"time"

	"focal/domain"
)

// TurnSpace is the memory a turn's run takes once (its decisions, outcome
// and step timings: a turnRun, some 1.8 KB a turn; the record of a move
// from a step, 0.5 KB; and the array of the candidates its explanation
// records, 2 KB at 100 rules), lent to RunTurn by a caller that knows when
// the outcome is done with, so that one turn's space serves the next
// rather than being garbage at every turn. The caller lends it through the
// run's context, which answers TurnSpaceKey with it, and reclaims it once
// nothing reads the outcome RunTurn returned, nor anything the outcome
// holds (its timings and parts of its explanation, the scenario
// decision's refs among them, are in the space). A run without one
// allocates its own.
type TurnSpace struct {
	run turnRun
	// move is the record of the run's move from a step (stepMoveRecord),
	// which the outcome's scenario decision holds parts of.
	move stepMoveRecord
	// kept is the array the recorded candidates were last kept in
	// (keptArray), zero between runs.
	kept []domain.RuleCandidate
	// taken is set by the run that took the space: a second run under the
	// same context allocates its own.
	taken bool
	// begun is when the caller began the run by time.Now (BeganAt), zero
	// when it did not say.
	begun time.Time
}

// BeganAt tells the run that takes s that the caller began it at t, a
// reading of time.Now it has just taken (to start the run's deadline): on
// the machine's clock the run's first step is timed from t rather than
// from a reading of its own (ports.MachineClock).
func (s *TurnSpace) BeganAt(t time.Time) { s.begun = t }

// began is when the caller began the run, zero without a space or when
// it did not say.
func (s *TurnSpace) began() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.begun
}

// TurnSpaceKey is the context key a lent TurnSpace is found under.
type TurnSpaceKey struct{}

// Reclaim readies s for another run: what the last one left is dropped,
// the candidates' array kept for the next, cleared.
func (s *TurnSpace) Reclaim() {
	kept := s.kept
	clear(kept)
	*s = TurnSpace{kept: kept}
}

// lentSpace is the TurnSpace ctx lends, when it lends one not taken yet,
// taken now; else nil.
func lentSpace(ctx context.Context) *TurnSpace {
	if s, ok := ctx.Value(TurnSpaceKey{}).(*TurnSpace); ok && s != nil && !s.taken {
		s.taken = true
		return s
	}
	return nil
}

// turnRun is the space's run, or a new one without a space.
func (s *TurnSpace) turnRun() *turnRun {
	if s == nil {
		return new(turnRun)
	}
	return &s.run
}

// moveRecord is where the run records a move from a step, nil without a
// space.
func (s *TurnSpace) moveRecord() *stepMoveRecord {
	if s == nil {
		return nil
	}
	return &s.move
}

// keptCandidates is where the space keeps its candidates' array, nil
// without a space.
func (s *TurnSpace) keptCandidates() *[]domain.RuleCandidate {
	if s == nil {
		return nil
	}
	return &s.kept
}

// maxKeptCandidates is the longest candidates' array a space keeps: a
// turn records at most maxRecordedCandidates and matches top_k more.
const maxKeptCandidates = 64

// keptArray is a zero array of size candidates: the one in kept (a
// space's, zero between runs) when there is one of that size at least,
// made there when there is room, else a new one.
func keptArray(kept *[]domain.RuleCandidate, size int) []domain.RuleCandidate {
	switch {
	case kept == nil || size > maxKeptCandidates:
		return make([]domain.RuleCandidate, size)
	case cap(*kept) < size:
		*kept = make([]domain.RuleCandidate, max(size, 2*maxRecordedCandidates))
	}
	*kept = (*kept)[:cap(*kept)]
	return (*kept)[:size]
}
