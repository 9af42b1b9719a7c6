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

// Turns implements ports.TurnStore on MongoDB.
type Turns struct{ db *DB }

var _ ports.TurnStore = (*Turns)(nil)

// NewTurns returns the turn store of db.
func NewTurns(db *DB) *Turns { return &Turns{db: db} }

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
	// Answers is, under a unique index, the keyed request a completed
	// turn answers (one completed turn per keyed request); any other turn
	// holds its own id there, which meets nothing.
	Answers string `bson:"answers"`
}

// answers is the turn's value of the unique "answers" field.
func answers(t *domain.Turn) string {
	if t.KeyedRequest != "" && t.Status == domain.TurnCompleted {
		return "request/" + t.TenantID + "/" + t.KeyedRequest
	}
	return "turn/" + t.ID
}

func turnsOf(tenantID, sessionID string) bson.D {
	return bson.D{{Key: "session_id", Value: sessionID}, {Key: "tenant_id", Value: tenantID}}
}

var newestTurnFirst = bson.D{{Key: "turn_number", Value: -1}}

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
		CreatedAt: t.CreatedAt, Record: string(record), SessionAfter: string(after), Answers: answers(t),
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

// turnOf decodes the turn of session sess (nil when unknown), its
// SessionAfter showing sess's close when it landed before the turn
// committed.
func (d *turnDoc) turnOf(sess *sessionDoc) (domain.Turn, error) {
	t, err := d.turn()
	if err == nil && t.SessionAfter != nil {
		if at, ok := sess.closedBefore(d.TurnNumber); ok {
			showClose(t.SessionAfter, at, sess.BaseVersion, d.TurnNumber)
		}
	}
	return t, err
}

func sessionBusy(format string, args ...any) error {
	e := domain.Errorf(domain.CodeSessionBusy, format, args...)
	e.RetryAfter = busyRetryAfter
	return e
}

// CommitTurn implements ports.TurnStore. The insert under the unique key
// (session_id, turn_number) is the commit point: of concurrent commits of
// one number exactly one succeeds, whatever any check before it saw.
//
// The one check before it is that the lease is still the session's lease
// for this number (leaseHeld): skipped while this process holds the lease
// alone, read otherwise. The number needs no check: a lease for number n
// is granted only after a read under it showed n-1 turns (lock.go), so n
// is the next number or one taken meanwhile, which the insert refuses.
//
// An insert that meets its own key (a retried write that landed, an answer
// lost in a failover) finds its own turn by id and succeeds; so does a
// commit refused for its lease when its turn is stored already. An id
// another turn holds, of any session or tenant, meets the _id index in the
// same insert: SESSION_BUSY, nothing stored.
//
// Residual window, as with any check before a write: an insert delayed in
// flight past a takeover can still land after the new holder took over.
// It carries the number both were granted, so exactly one of the two
// lands: never two turns with one number, never a skipped one.
func (ts *Turns) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if turn == nil || turn.SessionAfter == nil || turn.ID == "" || turn.TurnNumber < 1 {
		return domain.InvalidFields(domain.FieldError{Field: "turn", Message: "needs an id, a turn number from 1 and the session after it"})
	}
	if lease.Fence == 0 {
		return domain.InvalidFields(domain.FieldError{Field: "lease", Message: "a commit needs the lease of its session"})
	}
	doc, err := newTurnDoc(turn)
	if err != nil {
		return err
	}
	db := ts.db
	held, err := db.leaseHeld(ctx, lease, turn)
	if err != nil {
		return err
	}
	if !held {
		return db.answered(turn, db.refusedCommit(ctx, turn, "the lease of this turn was taken over, or is not this turn's"))
	}
	stored, err := db.insertOnce(ctx, db.turns, doc, "commit turn", turnReadBack(doc))
	if err != nil {
		return err
	}
	if !stored {
		return db.answered(turn, db.refusedCommit(ctx, turn, "turn "+strconv.Itoa(turn.TurnNumber)+" or turn id "+turn.ID+" is taken"))
	}
	db.memo.noteTurns(sessionKey(turn.TenantID, turn.SessionID), doc.TurnNumber)
	db.memo.markCommitted(leaseID(turn.TenantID, turn.SessionID, turn.TurnNumber), lease.Fence)
	return db.answered(turn, nil)
}

// answered puts on the SessionAfter of a turn that is committed (err nil)
// a close of its session that landed before the commit, as the turn reads
// back (GetTurn): the SQL stores' commit reads it from the session row in
// the statement that commits. Here the commit's one insert cannot read the
// session, so only a close this process made is known to it (memo.go);
// reading the session for it would cost every turn a command.
func (db *DB) answered(turn *domain.Turn, err error) error {
	if err != nil {
		return err
	}
	n := int64(turn.TurnNumber)
	if c, ok := db.memo.closeOf(sessionKey(turn.TenantID, turn.SessionID)); ok && n > c.turns {
		showClose(turn.SessionAfter, time.Unix(0, c.closedNS).UTC(), c.baseVersion, n)
	}
	return nil
}

// turnReadBack settles a commit's insert that met a document with its _id,
// the turn's id: the commit landed when that document is this turn, of
// its tenant, session and number; another turn's id refuses the commit
// (SESSION_BUSY, as the SQL stores' primary key), leaving that turn as
// it is.
func turnReadBack(doc *turnDoc) readBack {
	return readBack{onDuplicate: true, mine: func(stored bson.Raw) bool {
		return fieldIs("tenant_id", doc.TenantID)(stored) && fieldIs("session_id", doc.SessionID)(stored) &&
			fieldIs("turn_number", doc.TurnNumber)(stored)
	}}
}

// refusedCommit explains a commit that cannot land: it landed already (an
// earlier attempt whose answer was lost: success), another completed turn
// answered its keyed request (*ports.AnsweredError), the session is gone
// (SESSION_NOT_FOUND) or another turn holds the place (SESSION_BUSY).
func (db *DB) refusedCommit(ctx context.Context, turn *domain.Turn, why string) error {
	var own, exists bool
	var answeredBy string
	errOwn, errSession := concurrently(
		func() error {
			stored, err := db.findTurnByID(ctx, turn.TenantID, turn.ID)
			own = stored != nil && stored.SessionID == turn.SessionID && stored.TurnNumber == int64(turn.TurnNumber)
			if err != nil || own || turn.KeyedRequest == "" || turn.Status != domain.TurnCompleted {
				return err
			}
			answeredBy, err = db.answeredBy(ctx, turn.TenantID, answers(turn))
			return err
		},
		func() error {
			_, err := db.findSession(ctx, turn.TenantID, turn.SessionID)
			exists = err == nil
			if domain.IsCode(err, domain.CodeSessionNotFound) {
				return nil
			}
			return err
		},
	)
	switch {
	case errOwn != nil:
		return errOwn
	case own:
		return nil
	case answeredBy != "" && answeredBy != turn.ID:
		return &ports.AnsweredError{TurnID: answeredBy}
	case errSession != nil:
		return errSession
	case !exists:
		return sessionNotFound(turn.SessionID)
	}
	return sessionBusy("session %s: %s", turn.SessionID, why)
}

// answeredBy is the id of the completed turn of the tenant holding the
// "answers" value, "" when none does.
func (db *DB) answeredBy(ctx context.Context, tenantID, value string) (string, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var head struct {
		ID       string `bson:"_id"`
		TenantID string `bson:"tenant_id"`
	}
	err := db.turns.FindOne(ctx, bson.D{{Key: "answers", Value: value}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "tenant_id", Value: 1}})).Decode(&head)
	if errors.Is(err, errNoDocuments) || (err == nil && head.TenantID != tenantID) {
		return "", nil
	}
	if err != nil {
		return "", fail(err, "read the turn answering a request")
	}
	return head.ID, nil
}

func (db *DB) findTurnByID(ctx context.Context, tenantID, turnID string) (*turnDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var doc turnDoc
	err := db.turns.FindOne(ctx, db.byID(turnID, tenantID)).Decode(&doc)
	if errors.Is(err, errNoDocuments) || (err == nil && doc.TenantID != tenantID) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "get turn")
	}
	return &doc, nil
}

// GetTurn implements ports.TurnStore: the turn with what its session's
// close says of it (closedBefore), one aggregate with $lookup; without
// $lookup the turn, then its session.
func (ts *Turns) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	doc, sess, err := ts.db.findTurnWithClose(ctx, tenantID, turnID)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	t, err := doc.turnOf(sess)
	return &t, err
}

// closeFields are what a turn read needs of its session's document.
var closeFields = bson.D{{Key: "tenant_id", Value: 1}, {Key: "status", Value: 1}, {Key: "closed_ns", Value: 1},
	{Key: "closed_turns", Value: 1}, {Key: "base_version", Value: 1}}

// findTurnWithClose reads turn turnID and closeFields of its session's
// document (nil when gone); a nil turn when there is none.
func (db *DB) findTurnWithClose(ctx context.Context, tenantID, turnID string) (*turnDoc, *sessionDoc, error) {
	if !db.caps.lookup {
		doc, err := db.findTurnByID(ctx, tenantID, turnID)
		if err != nil || doc == nil {
			return nil, nil, err
		}
		sess, err := db.findSessionClose(workaround(ctx), tenantID, doc.SessionID)
		return doc, sess, err
	}
	actx, cancel := db.op(ctx)
	defer cancel()
	cur, err := db.turns.Aggregate(actx, mdb.Pipeline{
		{{Key: "$match", Value: db.byID(turnID, tenantID)}}, {{Key: "$limit", Value: 1}}, lookupSessionClose(),
	})
	if err != nil {
		return nil, nil, fail(err, "get turn")
	}
	var rows []struct {
		turnDoc `bson:",inline"`
		Session []sessionDoc `bson:"session"`
	}
	if err := cur.All(actx, &rows); err != nil {
		return nil, nil, fail(err, "get turn")
	}
	if len(rows) == 0 || rows[0].TenantID != tenantID {
		return nil, nil, nil
	}
	var sess *sessionDoc
	if len(rows[0].Session) > 0 {
		sess = &rows[0].Session[0]
	}
	return &rows[0].turnDoc, sess, nil
}

// lookupSessionClose is the $lookup stage joining a turn's session with
// only closeFields.
func lookupSessionClose() bson.D {
	return bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: colSessions}, {Key: "localField", Value: "session_id"},
		{Key: "foreignField", Value: "_id"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$project", Value: closeFields}}}},
		{Key: "as", Value: "session"}}}}
}

// findSessionClose reads closeFields of a session's document, nil when
// there is none.
func (db *DB) findSessionClose(ctx context.Context, tenantID, sessionID string) (*sessionDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var doc sessionDoc
	err := db.sessions.FindOne(ctx, db.byID(sessionID, tenantID), options.FindOne().SetProjection(closeFields)).Decode(&doc)
	if errors.Is(err, errNoDocuments) || (err == nil && doc.TenantID != tenantID) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "get turn")
	}
	return &doc, nil
}

// ListTurns implements ports.TurnStore: the session check and the page are
// read concurrently (two round trips, one of latency).
func (ts *Turns) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	filter := turnsOf(tenantID, sessionID)
	sortDir, op := 1, "$gt"
	if q.Order == ports.OrderDesc {
		sortDir, op = -1, "$lt"
	}
	after, paged, err := ports.TurnCursors.After(q.Page.Cursor, tenantID, sessionID)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	if paged {
		filter = append(filter, bson.E{Key: "turn_number", Value: bson.D{{Key: op, Value: after}}})
	}
	limit := ports.PageLimit(q.Page.Limit)
	var docs []turnDoc
	var sess *sessionDoc
	errSess, errTurns := concurrently(
		func() (err error) { sess, err = ts.db.findSession(ctx, tenantID, sessionID); return err },
		func() (err error) {
			docs, err = ts.db.findTurns(ctx, filter, bson.D{{Key: "turn_number", Value: sortDir}}, limit+1)
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
		page.NextCursor = ports.TurnCursors.Cursor(tenantID, sessionID, docs[limit-1].TurnNumber)
	}
	for i := range docs {
		t, err := docs[i].turnOf(sess)
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
func (ts *Turns) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	if n <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	docs, err := ts.db.findHistory(ctx, tenantID, sessionID, n)
	if err != nil {
		return nil, err
	}
	return historyOf(docs)
}

// historyFields are the fields of a turn document a history entry is read
// from.
var historyFields = bson.D{{Key: "turn_number", Value: 1}, {Key: "record", Value: 1}}

// findHistory reads the newest n turns of a session, newest first, with
// only the fields their history entries need.
func (db *DB) findHistory(ctx context.Context, tenantID, sessionID string, n int) ([]turnDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	cur, err := db.turns.Find(ctx, turnsOf(tenantID, sessionID), options.Find().
		SetSort(newestTurnFirst).SetLimit(int64(n)).SetProjection(historyFields))
	if err != nil {
		return nil, fail(err, "read history")
	}
	docs := []turnDoc{}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fail(err, "read history")
	}
	return docs, nil
}

// historyOf gives the history entries of turn documents read newest
// first, oldest first.
func historyOf(docs []turnDoc) ([]domain.HistoryEntry, error) {
	out := make([]domain.HistoryEntry, 0, len(docs))
	for i := range slices.Backward(docs) {
		h, err := docs[i].history()
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// history reads what a prompt needs of the turn, decoding only those
// fields of its record.
func (d *turnDoc) history() (domain.HistoryEntry, error) {
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
	if err := json.Unmarshal([]byte(d.Record), &rec); err != nil {
		return domain.HistoryEntry{}, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	h := domain.HistoryEntry{TurnNumber: int(d.TurnNumber), Message: rec.Message, Response: rec.Response, Status: rec.Status}
	if after := rec.Explanation.Scenario.After; after != nil {
		h.Scenario = *after
	}
	return h, nil
}

func (db *DB) findTurns(ctx context.Context, filter, sort bson.D, n int) ([]turnDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	cur, err := db.turns.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(int64(n)))
	if err != nil {
		return nil, fail(err, "list turns")
	}
	docs := []turnDoc{}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fail(err, "list turns")
	}
	return docs, nil
}
