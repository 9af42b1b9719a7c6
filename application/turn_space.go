package application

import (
	"sync"
	"time"

	"focal/application/alignment"
	"focal/domain"
)

// turnContext is the context a turn's engine run goes under: its
// deadline (deadlineContext), and the space the run takes
// (alignment.TurnSpace), lent by the prepared turn, which knows when the
// outcome is done with: an engine that is not alignment's never asks.
type turnContext struct {
	deadlineContext
	space *alignment.TurnSpace
}

// Value implements context.Context: the lent space under its key, else
// what the deadline's context holds.
func (c *turnContext) Value(key any) any {
	if _, ok := key.(alignment.TurnSpaceKey); ok {
		if c.space == nil {
			return nil
		}
		return c.space
	}
	return c.deadlineContext.Value(key)
}

// turnSpaces hold the spaces turns lend their engine runs between turns:
// a turn's space was 1.8 KB of garbage a turn, the largest allocation of
// its run.
var turnSpaces = sync.Pool{New: func() any { return new(alignment.TurnSpace) }}

// lendSpace lends the turn's engine run a space of turnSpaces, telling
// it the run began at begun, the reading of time.Now its deadline counts
// from (alignment.TurnSpace.BeganAt).
func (p *PreparedTurn) lendSpace(begun time.Time) {
	s := turnSpaces.Get().(*alignment.TurnSpace)
	s.BeganAt(begun)
	p.turnCtx.space = s
}

// reclaimSpace hands the run's space back to turnSpaces once the turn is
// committed and its result made: nothing reads the outcome after. The
// record's timings and explanation, parts of which were in the space, go
// with it; the result's scenario, which is the explanation's (a step
// stayed at is the move's record's, in the space), is copied out first.
// A turn that failed keeps its space (the collector takes it): what
// became of its outcome is not followed that far.
func (p *PreparedTurn) reclaimSpace() {
	if r := p.result.Scenario; r != nil {
		p.scenario = *r
		p.result.Scenario = &p.scenario
	}
	s := p.turnCtx.space
	p.turnCtx.space = nil
	p.turn.Timings, p.turn.Explanation = nil, domain.Explanation{}
	s.Reclaim()
	turnSpaces.Put(s)
}
