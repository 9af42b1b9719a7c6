package sqlkit

import (
	"time"

	"focal/domain"
	"focal/ports"
)

// BusyRetryAfter is what a SESSION_BUSY answer suggests waiting: turns
// usually take a model call, about a second.
const BusyRetryAfter = time.Second

// CheckCommit refuses a commit the ports call invalid, before any I/O.
func CheckCommit(lease ports.LeaseToken, turn *domain.Turn) error {
	if turn == nil || turn.SessionAfter == nil || turn.ID == "" || turn.TurnNumber < 1 {
		return domain.InvalidFields(domain.FieldError{Field: "turn", Message: "needs an id, a turn number from 1 and the session after it"})
	}
	if lease.Fence == 0 {
		return domain.InvalidFields(domain.FieldError{Field: "lease", Message: "a commit needs the lease of its session"})
	}
	return nil
}

// CheckLock refuses a lock request the ports call invalid.
func CheckLock(req ports.LockRequest) error {
	if !req.NamesSession() {
		return domain.InvalidFields(domain.FieldError{Field: "session", Message: "a tenant, and a session id or a candidate of the tenant, are required"})
	}
	return nil
}

// Busy is SESSION_BUSY with a retry hint.
func Busy(format string, args ...any) error {
	e := domain.Errorf(domain.CodeSessionBusy, format, args...)
	e.RetryAfter = BusyRetryAfter
	return e
}

// SessionNotFound is SESSION_NOT_FOUND for id.
func SessionNotFound(id string) error {
	return domain.Errorf(domain.CodeSessionNotFound, "session %s not found", id)
}

// AgentNotFound is AGENT_NOT_FOUND for id.
func AgentNotFound(id string) error {
	return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", id)
}

// VersionConflict reports a save that is not the agent's next version.
func VersionConflict(agentID string, current int64) error {
	return domain.Errorf(domain.CodeVersionConflict, "agent %s is at version %d; expected to write version %d", agentID, current, current+1)
}

// NotHeld is the NOT_FOUND of an idempotency completion by a request that
// does not hold the key.
func NotHeld(key string) error {
	return domain.Errorf(domain.CodeNotFound, "idempotency key %q is not held by this request", key)
}

// WindowStart is the start of the fixed window of length w, aligned to the
// Unix epoch, that holds now; every instance agrees on it.
func WindowStart(now time.Time, w time.Duration) time.Time {
	return now.Truncate(w)
}

// RateDecision is the decision for the count-th request of a window
// [start, start+w) with limit allowed; count above limit is a refusal.
func RateDecision(now, start time.Time, w time.Duration, limit, count int) ports.RateDecision {
	reset := start.Add(w)
	if !reset.After(now) {
		reset = now.Add(time.Millisecond)
	}
	d := ports.RateDecision{Limit: limit, Reset: reset}
	if count <= limit {
		d.Allowed, d.Remaining = true, limit-count
		return d
	}
	d.RetryAfter = reset.Sub(now)
	return d
}

// TurnNotFound is TURN_NOT_FOUND for id.
func TurnNotFound(id string) error {
	return domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", id)
}

// RefusedCommit is what a commit of turn that moved no session row means,
// given whether the turn is stored already (own: a retry after a lost
// answer, which succeeded) and whether its session exists:
// SESSION_NOT_FOUND, or SESSION_BUSY saying why.
func RefusedCommit(turn *domain.Turn, own, exists bool, why string) error {
	switch {
	case own:
		return nil
	case !exists:
		return SessionNotFound(turn.SessionID)
	}
	return Busy("session %s: %s", turn.SessionID, why)
}
