package application

import (
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"focal/domain"
)

// Unrecorded is the answer to a reader who asked for turnID's record and
// got notFound: TURN_IN_PROGRESS (with RetryAfter) while the turn may still
// be running, on this instance or another, and notFound once it cannot be.
// A client that heard 404 may send its message again; one told the turn is
// still running must not, or it records the message twice.
//
// No store says which turn holds a session's lease (a lease knows its
// session, turn number and fence, not the turn's id), so the turn id says
// it: it is a version 7 UUID made when the turn began (or its keyed
// request was claimed), and a turn lasts at most longestTurn from then. An
// id of another version, or older than that, names no turn that can still
// be recorded. The id's time is this machine's clock against the one that
// made it: longestTurn's lease TTL covers the skew between instances.
func (uc *ProcessMessage) Unrecorded(turnID string, notFound error) error {
	made, ok := turnIDTime(turnID)
	if !ok {
		return notFound
	}
	age := time.Since(made)
	if age > uc.longestTurn() || age < -uc.cfg.LeaseTTL {
		return notFound
	}
	return &domain.Error{Code: domain.CodeTurnInProgress, RetryAfter: time.Second,
		Message: "turn " + turnID + " is still running; retry to replay it once it is recorded"}
}

// longestTurn bounds a turn's life from its id's making to its record: the
// waits at the budget's edge and for the session, the policy's compile
// (within the turn's deadline) and the engine run (TurnTimeout each), the
// commit with its retries (two CommitTimeouts), and a lease TTL for clock
// skew.
func (uc *ProcessMessage) longestTurn() time.Duration {
	return uc.edgeWait + uc.cfg.LockWait + 2*uc.cfg.TurnTimeout + 2*uc.cfg.CommitTimeout + uc.cfg.LeaseTTL
}

// turnIDTime is when a version 7 turn id was made (newTurnID); false for
// any other id.
func turnIDTime(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	var ms [8]byte
	copy(ms[2:], u[:6])
	return time.UnixMilli(int64(binary.BigEndian.Uint64(ms[:]))), true
}
