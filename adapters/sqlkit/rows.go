// Package sqlkit holds what Focal's SQL stores (adapters/postgres and
// adapters/sqlite) share besides SQL and driver calls: how sessions,
// turns, history entries, policies, tenant keys and idempotency records
// become column values and back (and the column lists that go with the
// scans), pages and cursors, the checks every store makes before it
// writes, the migration files and which are pending, the bookkeeping of a
// held lease, the memory of rate windows seen full, the sweep loop, and
// the in-process queue that serves a session's lease waiters first come,
// first served. Statements, transactions, locking and error mapping stay
// in each store.
package sqlkit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"focal/domain"
)

// SessionRow is a sessions row as both stores keep it. State is the JSON
// of the session as of its newest turn (or as created); the columns beside
// it win over the JSON, since a close and a turn each write only their own
// part of the row.
type SessionRow struct {
	ID, TenantID string
	Status       string
	TurnCount    int
	Version      int64
	// ClosedNS is when the session was closed, in Unix nanoseconds; 0 while active.
	ClosedNS int64
	State    []byte
}

// EncodeState is the JSON a session row keeps of s.
func EncodeState(s *domain.Session) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "session cannot be stored")
	}
	return b, nil
}

// Session decodes the row.
func (r SessionRow) Session() (*domain.Session, error) {
	var s domain.Session
	if err := json.Unmarshal(r.State, &s); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored session cannot be read")
	}
	s.ID, s.TenantID, s.TurnCount = r.ID, r.TenantID, r.TurnCount
	overlay(&s, r.Status, r.Version, r.ClosedNS)
	return &s, nil
}

// overlay puts a row's status, version and close time, which win over
// its JSON, on s.
func overlay(s *domain.Session, status string, version, closedNS int64) {
	s.Status, s.Version = domain.SessionStatus(status), version
	s.ClosedAt = nil
	if closedNS != 0 {
		at := time.Unix(0, closedNS).UTC()
		s.ClosedAt = &at
		if at.After(s.UpdatedAt) {
			s.UpdatedAt = at
		}
	}
}

// StoredAfter is what a commit stored of the session beside a turn's
// session_after JSON (the after_status, after_version and after_closed_ns
// columns): the session row's status, version and close time as the
// commit left them. They win over the JSON, which is the session as the
// turn built it: a close that landed while the turn ran changed them.
// Nil on turns committed before the columns existed.
type StoredAfter struct {
	Status   *string
	Version  *int64
	ClosedNS *int64
}

// ChannelKeyID is a channel key as a fixed-size value for the unique
// index that makes creating a session the claim of its key.
func ChannelKeyID(k domain.ChannelKey) string {
	h := sha256.New()
	for _, part := range []string{k.TenantID, k.AgentID, k.Channel, k.UserChannelID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TurnRow is what a turns row keeps of a turn: its record without the
// session state, the session state after it, and its history entry, each
// as JSON, so reads fetch only what they need.
type TurnRow struct {
	Record, After, History []byte
}

// EncodeTurn encodes t for its row.
func EncodeTurn(t *domain.Turn) (TurnRow, error) {
	after, err := json.Marshal(t.SessionAfter)
	if err != nil {
		return TurnRow{}, domain.WrapError(domain.CodeInternal, err, "turn cannot be stored")
	}
	rec := *t
	rec.SessionAfter = nil
	record, err := json.Marshal(&rec)
	if err != nil {
		return TurnRow{}, domain.WrapError(domain.CodeInternal, err, "turn cannot be stored")
	}
	history, err := json.Marshal(t.History())
	if err != nil {
		return TurnRow{}, domain.WrapError(domain.CodeInternal, err, "turn cannot be stored")
	}
	return TurnRow{Record: record, After: after, History: history}, nil
}

// DecodeTurn reads a turn from its record and session-after columns.
func DecodeTurn(record, after []byte, stored StoredAfter) (domain.Turn, error) {
	var t domain.Turn
	if err := json.Unmarshal(record, &t); err != nil {
		return t, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	if len(after) > 0 && string(after) != "null" {
		t.SessionAfter = &domain.Session{}
		if err := json.Unmarshal(after, t.SessionAfter); err != nil {
			return t, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
		}
		if stored.Status != nil && stored.Version != nil && stored.ClosedNS != nil {
			overlay(t.SessionAfter, *stored.Status, *stored.Version, *stored.ClosedNS)
		}
	}
	return t, nil
}

// DecodeHistory reads a JSON array of history entries, oldest first; an
// empty input is an empty list.
func DecodeHistory(list []byte) ([]domain.HistoryEntry, error) {
	out := []domain.HistoryEntry{}
	if len(list) == 0 {
		return out, nil
	}
	if err := json.Unmarshal(list, &out); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	return out, nil
}

// DecodeHistoryEntry reads one history entry.
func DecodeHistoryEntry(b []byte) (domain.HistoryEntry, error) {
	var h domain.HistoryEntry
	if err := json.Unmarshal(b, &h); err != nil {
		return h, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	return h, nil
}

// Answers is the turns.answers column of t: the keyed request a completed
// turn answers, unique per tenant; nil (NULL) for any other turn.
func Answers(t *domain.Turn) any {
	if t.KeyedRequest != "" && t.Status == domain.TurnCompleted {
		return t.KeyedRequest
	}
	return nil
}
