// Package ports holds the interfaces the core needs from the world: stores,
// models, tools, the clock, and the alignment engine the use cases drive.
// Each method's comment states its contract and the error codes it returns;
// every adapter must honour them (test/contract checks the stores).
package ports

import (
	"context"

	"focal/domain"
)

// DeltaSink receives reply text as it becomes safe to release, in order.
// Concatenating every delta gives the final reply. A sink error (for example
// a client that went away) stops the turn: the engine returns that error.
type DeltaSink func(delta string) error

// TurnInput is everything the engine needs to run one turn.
type TurnInput struct {
	Policy *domain.Policy
	// Session is the state before the turn. The engine must not modify it.
	Session *domain.Session
	// TurnNumber is the number this turn will be committed under.
	TurnNumber int
	// TurnID is the id this turn will be recorded under; tool calls carry
	// it in their Idempotency-Key.
	TurnID  string
	Message string
	// History is what the prompt needs of the session's newest turns
	// before this one, oldest first, as read with the session under its
	// lease (the agent's history_turns of them at most). nil means not
	// read: the engine reads them itself.
	History []domain.HistoryEntry
	// Metadata is the request's metadata (validated by
	// domain.ValidateMetadata), read by the engine as meta.*. It is
	// read-only: the engine must not modify it, and nothing of a turn
	// writes it back.
	Metadata map[string]any
	// RequestID ties model and tool calls to the request in logs.
	RequestID string
}

// TurnOutcome is the engine's result: the reply and the session state it
// implies, not yet committed.
type TurnOutcome struct {
	Response string
	// Session is the post-turn engine state (rule fires, scenario position,
	// variables) built on a copy of TurnInput.Session.
	Session     *domain.Session
	Explanation domain.Explanation
	Usage       domain.TokenUsage
	Model       string
	Timings     []domain.StepTiming
}

// Engine runs the alignment pipeline for one turn.
//
// RunTurn streams the reply to sink as it is produced and released by
// enforcement: no text that breaks a hard constraint is ever passed to sink.
// It never commits anything. It is safe for concurrent use.
//
// Errors: LLM_ERROR, LLM_UNAVAILABLE and TIMEOUT for model failures, the
// sink's own error when the sink fails, context errors when ctx ends,
// INTERNAL_ERROR otherwise. On error some deltas may already have been sent.
type Engine interface {
	RunTurn(ctx context.Context, in TurnInput, sink DeltaSink) (*TurnOutcome, error)
}
