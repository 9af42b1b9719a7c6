package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// turnDoc is a turn record, inserted once under the unique key
// (session_id, turn_number): that insert is the commit point of the turn,
// and session_after is the session's state from then on.
type turnDoc struct {
	ID         string    `bson:"_id"`
	TenantID   string    `bson:"tenant_id"`
	SessionID  string    `bson:"session_id"`
	TurnNumber int64     `bson:"turn_number"`
	CreatedAt  time.Time `bson:"created_at"`
	// Record is the JSON of the turn without its session state.
	Record string `bson:"record"`
	// SessionAfter is the JSON of the session after the turn, kept apart so
	// session reads fetch only it.
	SessionAfter string `bson:"session_after"`
}

func turnsOf(tenantID, sessionID string) bson.D {
	return bson.D{{Key: "session_id", Value: sessionID}, {Key: "tenant_id", Value: tenantID}}
}

func newTurnDoc(t *domain.Turn) (*turnDoc, error) {
	after, err := json.Marshal(t.SessionAfter)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "turn cannot be stored")
	}
	rec := *t
	rec.SessionAfter = nil
	record, err := json.Marshal(&rec)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "turn cannot be stored")
	}
	return &turnDoc{
		ID: t.ID, TenantID: t.TenantID, SessionID: t.SessionID, TurnNumber: int64(t.TurnNumber),
		CreatedAt: t.CreatedAt, Record: string(record), SessionAfter: string(after),
	}, nil
}

func (d *turnDoc) turn() (domain.Turn, error) {
	var t domain.Turn
	if err := json.Unmarshal([]byte(d.Record), &t); err != nil {
		return t, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	if d.SessionAfter != "" && d.SessionAfter != "null" {
		t.SessionAfter = &domain.Session{}
		if err := json.Unmarshal([]byte(d.SessionAfter), t.SessionAfter); err != nil {
			return t, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
		}
	}
	return t, nil
}

func sessionBusy(format string, args ...any) error {
	e := domain.Errorf(domain.CodeSessionBusy, format, args...)
	e.RetryAfter = busyRetryAfter
	return e
}

// CommitTurn implements ports.TurnStore. The insert under the unique key
// (session_id, turn_number) is the commit point: of concurrent commits of
// one number exactly one succeeds, whatever any check before it saw. Two
// checks may precede it, each skipped when this process already knows
// its answer (memo.go):
//
//   - the fence: a read of the session's current lease, unless this
//     process granted the lease and nobody else can hold it before the
//     insert's deadline (its expiry minus LeaseClockSkew, by our clock);
//   - the turn number: a read of the session's newest turn, unless the
//     commit is fenced and its number is one more than the highest this
//     process saw committed (read or written). A session loses no turn
//     before its lease is sealed, so under a held lease that number is at
//     most the session's count: the turn is the next one or a taken one,
//     which the insert refuses. Only other numbers need the read, to tell
//     a skipped number (refused) from the next.
//
// So the application's commit (lease just granted, session just read) is
// one round trip; a commit that needs both checks is three, two of latency.
//
// A lease held alone cannot belong to a deleted session: DeleteSession
// seals the lease first, which waits for the holder (lease.go).
//
// Residual window, as with any check before a write: an insert delayed in
// flight past a takeover can still land after the new holder took over.
// It carries the number its holder read, TurnCount+1, so either it lands
// first and the new holder's commit of that number is refused
// (SESSION_BUSY), or the new holder lands first and the stale insert is
// refused: never two turns with one number, never a lost one.
//
// A zero LeaseToken commits without fencing (as the memory store does);
// the session must still exist, and its number is always read.
func (s *Store) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if turn == nil || turn.SessionAfter == nil || turn.ID == "" || turn.TurnNumber < 1 {
		return domain.InvalidFields(domain.FieldError{Field: "turn", Message: "needs an id, a turn number from 1 and the session after it"})
	}
	doc, err := newTurnDoc(turn)
	if err != nil {
		return err
	}
	id := leaseID(turn.TenantID, turn.SessionID)
	fenced := lease.Fence != 0 && (lease.SessionID == "" || lease.SessionID == turn.SessionID)
	alone := fenced && s.holdsAlone(id, lease.Fence)
	seen, ok := s.seenTurns(id)
	next := fenced && ok && doc.TurnNumber == seen+1
	if !alone || !next {
		holds, prev := true, seen
		errHold, errPrev := concurrently(
			func() (err error) {
				if !alone {
					holds, err = s.holdsLease(ctx, lease, turn)
				}
				return err
			},
			func() (err error) {
				if !next {
					prev, err = s.newestTurnNumber(ctx, turn.TenantID, turn.SessionID)
				}
				return err
			},
		)
		if errHold != nil {
			return errHold
		}
		if errPrev != nil {
			return errPrev
		}
		if !holds {
			if _, err := s.findSession(ctx, turn.TenantID, turn.SessionID); err != nil {
				return err
			}
			return sessionBusy("session %s: the lease of this turn was taken over", turn.SessionID)
		}
		if fenced {
			s.noteTurns(id, prev)
		}
		if prev != doc.TurnNumber-1 {
			return sessionBusy("session %s: turn %d is already committed or out of order (the session has %d)", turn.SessionID, turn.TurnNumber, prev)
		}
	}
	ictx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.turns.InsertOne(ictx, doc)
	if mdb.IsDuplicateKeyError(err) {
		return sessionBusy("session %s: turn %d is already committed", turn.SessionID, turn.TurnNumber)
	}
	if err != nil {
		return s.fail(err, "commit turn")
	}
	if fenced {
		s.noteTurns(id, doc.TurnNumber)
	}
	return nil
}

// holdsLease reports whether lease is the session's current lease; with a
// zero token, whether the session exists.
func (s *Store) holdsLease(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) (bool, error) {
	if lease.Fence == 0 {
		_, err := s.findSession(ctx, turn.TenantID, turn.SessionID)
		if domain.IsCode(err, domain.CodeSessionNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	if lease.SessionID != "" && lease.SessionID != turn.SessionID {
		return false, nil
	}
	cur, err := s.findLease(ctx, leaseID(turn.TenantID, turn.SessionID))
	if err != nil {
		return false, err
	}
	return cur != nil && cur.Fence == lease.Fence, nil
}

// newestTurnNumber is the session's TurnCount as committed.
func (s *Store) newestTurnNumber(ctx context.Context, tenantID, sessionID string) (int64, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var head turnHead
	err := s.turns.FindOne(ctx, turnsOf(tenantID, sessionID), options.FindOne().
		SetSort(bson.D{{Key: "turn_number", Value: -1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "turn_number", Value: 1}})).Decode(&head)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail(err, "read turn count")
	}
	return head.TurnNumber, nil
}

// GetTurn implements ports.TurnStore: one round trip.
func (s *Store) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc turnDoc
	err := s.turns.FindOne(ctx, bson.D{{Key: "_id", Value: turnID}, {Key: "tenant_id", Value: tenantID}}).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	if err != nil {
		return nil, s.fail(err, "get turn")
	}
	t, err := doc.turn()
	return &t, err
}

// ListTurns implements ports.TurnStore: the session check and the page are
// read concurrently (two round trips, one of latency).
func (s *Store) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	filter := turnsOf(tenantID, sessionID)
	sortDir, op := 1, "$gt"
	if q.Order == ports.OrderDesc {
		sortDir, op = -1, "$lt"
	}
	if q.Page.Cursor != "" {
		raw, err := ports.DecodeCursor(q.Page.Cursor)
		if err != nil {
			return ports.Page[domain.Turn]{}, err
		}
		after, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return ports.Page[domain.Turn]{}, badCursor()
		}
		filter = append(filter, bson.E{Key: "turn_number", Value: bson.D{{Key: op, Value: after}}})
	}
	limit := ports.PageLimit(q.Page.Limit)
	var docs []turnDoc
	errSess, errTurns := concurrently(
		func() error { _, err := s.findSession(ctx, tenantID, sessionID); return err },
		func() (err error) {
			docs, err = s.findTurns(ctx, filter, bson.D{{Key: "turn_number", Value: sortDir}}, limit+1)
			return err
		},
	)
	if errSess != nil {
		return ports.Page[domain.Turn]{}, errSess
	}
	if errTurns != nil {
		return ports.Page[domain.Turn]{}, errTurns
	}
	page := ports.Page[domain.Turn]{Items: make([]domain.Turn, 0, min(limit, len(docs)))}
	if len(docs) > limit {
		docs = docs[:limit]
		page.NextCursor = ports.EncodeCursor(strconv.FormatInt(docs[limit-1].TurnNumber, 10))
	}
	for i := range docs {
		t, err := docs[i].turn()
		if err != nil {
			return ports.Page[domain.Turn]{}, err
		}
		page.Items = append(page.Items, t)
	}
	return page, nil
}

// RecentHistory implements ports.TurnStore: one indexed round trip reading
// the newest n records without their session state, whatever the
// session's length. An unknown session (or another tenant's) has no
// turns: the list is empty.
func (s *Store) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	if n <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.turns.Find(ctx, turnsOf(tenantID, sessionID), options.Find().
		SetSort(bson.D{{Key: "turn_number", Value: -1}}).SetLimit(int64(n)).
		SetProjection(bson.D{{Key: "turn_number", Value: 1}, {Key: "record", Value: 1}}))
	if err != nil {
		return nil, s.fail(err, "read history")
	}
	var docs []turnDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail(err, "read history")
	}
	out := make([]domain.HistoryEntry, 0, len(docs))
	for i := range slices.Backward(docs) {
		// Only the fields a prompt needs are decoded from the record.
		var rec struct {
			Message     string            `json:"message"`
			Response    string            `json:"response"`
			Status      domain.TurnStatus `json:"status"`
			Explanation struct {
				Scenario struct {
					After *domain.ScenarioRef `json:"after"`
				} `json:"scenario"`
			} `json:"explanation"`
		}
		if err := json.Unmarshal([]byte(docs[i].Record), &rec); err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
		}
		h := domain.HistoryEntry{TurnNumber: int(docs[i].TurnNumber), Message: rec.Message, Response: rec.Response, Status: rec.Status}
		if rec.Explanation.Scenario.After != nil {
			h.Scenario = *rec.Explanation.Scenario.After
		}
		out = append(out, h)
	}
	return out, nil
}

func (s *Store) findTurns(ctx context.Context, filter, sort bson.D, n int) ([]turnDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.turns.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(int64(n)))
	if err != nil {
		return nil, s.fail(err, "list turns")
	}
	var docs []turnDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail(err, "list turns")
	}
	return docs, nil
}
