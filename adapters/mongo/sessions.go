package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// Sessions implements ports.SessionStore on MongoDB.
type Sessions struct{ db *DB }

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

// sessionDoc is a session's identity and status. It is written when the
// session is created and when it is closed (a second update when a turn
// committed during the close: settleClosedTurns), never else. The state
// a session has after its turns is not here: it lives in the newest turn
// record (the commit point), which every read joins in. No projection is
// ever written after a turn, so no update can race a close; a close can
// only miss a turn committed while it runs, which it reads again for.
//
// ActiveKey holds the hash of the channel key while the session is active,
// under a unique index: inserting the document is the claim of the key
// (of concurrent first messages exactly one insert wins), and closing
// sets it to a value of this session alone, which frees the key.
type sessionDoc struct {
	ID            string `bson:"_id"`
	TenantID      string `bson:"tenant_id"`
	AgentID       string `bson:"agent_id"`
	Channel       string `bson:"channel"`
	UserChannelID string `bson:"user_channel_id"`
	Status        string `bson:"status"`
	ActiveKey     string `bson:"active_key"`
	// CreatedNS orders listings exactly; CreatedAt is for people.
	CreatedNS int64     `bson:"created_ns"`
	CreatedAt time.Time `bson:"created_at"`
	ClosedNS  int64     `bson:"closed_ns,omitempty"`
	// ClosedTurns is how many turns were committed when the session was
	// closed, as the close read them after it wrote (settleClosedTurns):
	// the turns after them committed on a closed session and read back
	// closed (see closedBefore). Absent on sessions closed by a delete or
	// before it was kept, whose turns read back as they were built.
	ClosedTurns *int64 `bson:"closed_turns,omitempty"`
	// BaseVersion is the version the session was created with; turns and
	// the close each add one.
	BaseVersion int64 `bson:"base_version"`
	// Initial is the JSON of the session as created: its state until the
	// first turn commits.
	Initial string `bson:"initial"`
}

// turnHead is the newest turn of a session: its number and the session's
// state after it.
type turnHead struct {
	TurnNumber   int64  `bson:"turn_number"`
	SessionAfter string `bson:"session_after"`
}

// channelKeyID is a channel key as a fixed-size value for the unique
// index; the parts stay readable in the document's other fields.
func channelKeyID(k domain.ChannelKey) string {
	h := sha256.New()
	for _, part := range []string{k.TenantID, k.AgentID, k.Channel, k.UserChannelID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// closedKey is the ActiveKey of a closed session: its own, so it claims
// nothing.
func closedKey(sessionID string) string { return "closed/" + sessionID }

func newSessionDoc(s *domain.Session) (*sessionDoc, error) {
	initial, err := json.Marshal(s)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "session cannot be stored")
	}
	doc := &sessionDoc{
		ID: s.ID, TenantID: s.TenantID, AgentID: s.AgentID, Channel: s.Channel, UserChannelID: s.UserChannelID,
		Status: string(domain.SessionActive), ActiveKey: channelKeyID(s.Key()),
		CreatedNS: s.CreatedAt.UnixNano(), CreatedAt: s.CreatedAt, BaseVersion: s.Version, Initial: string(initial),
	}
	if s.Status == domain.SessionClosed {
		doc.Status, doc.ActiveKey = string(domain.SessionClosed), closedKey(s.ID)
		if s.ClosedAt != nil {
			doc.ClosedNS = s.ClosedAt.UnixNano()
		}
	}
	return doc, nil
}

// session assembles the domain session: the state after the newest turn
// (or as created), with identity and status from the session document,
// which win over the turn's copy, so a close during a turn survives it.
func (d *sessionDoc) session(head *turnHead) (*domain.Session, error) {
	state, turns := d.Initial, int64(0)
	if head != nil {
		state, turns = head.SessionAfter, head.TurnNumber
	}
	var s domain.Session
	if err := json.Unmarshal([]byte(state), &s); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored session cannot be read")
	}
	s.ID, s.TenantID, s.AgentID, s.Channel, s.UserChannelID = d.ID, d.TenantID, d.AgentID, d.Channel, d.UserChannelID
	s.CreatedAt = time.Unix(0, d.CreatedNS).UTC()
	s.TurnCount = int(turns)
	s.Status = domain.SessionStatus(d.Status)
	s.Version = d.BaseVersion + turns
	s.ClosedAt = nil
	if s.Status == domain.SessionClosed {
		s.Version++
		if d.ClosedNS != 0 {
			at := time.Unix(0, d.ClosedNS).UTC()
			s.ClosedAt = &at
			if at.After(s.UpdatedAt) {
				s.UpdatedAt = at
			}
		}
	}
	return &s, nil
}

// closedBefore returns when the session was closed if the close landed
// before turn n committed (ClosedTurns); false on an active session, and
// on one closed without noting its turns.
func (d *sessionDoc) closedBefore(n int64) (time.Time, bool) {
	if d == nil || d.Status != string(domain.SessionClosed) || d.ClosedTurns == nil || n <= *d.ClosedTurns || d.ClosedNS == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, d.ClosedNS).UTC(), true
}

// showClose puts on s, the session after turn n, a close at `at` that
// landed before the turn committed, as the SQL stores' commit reads it
// from the session row: closed, its version the session's after both
// (base + n turns + the close), updated_at moved to the close.
func showClose(s *domain.Session, at time.Time, baseVersion, n int64) {
	s.Status, s.ClosedAt = domain.SessionClosed, &at
	s.Version = baseVersion + n + 1
	if at.After(s.UpdatedAt) {
		s.UpdatedAt = at
	}
}

func sessionNotFound(sessionID string) error {
	return domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
}

// byID is the filter of a point read: _id and tenant on MongoDB (a
// collection sharded by tenant routes it to one shard); _id alone on
// servers that use an index only for a filter on _id alone (FerretDB),
// the caller then checking the tenant itself.
func (db *DB) byID(id, tenantID string) bson.D {
	if db.caps.lookup {
		return bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: tenantID}}
	}
	return bson.D{{Key: "_id", Value: id}}
}

func sessionFilter(tenantID, sessionID string) bson.D {
	return bson.D{{Key: "_id", Value: sessionID}, {Key: "tenant_id", Value: tenantID}}
}

// sessionKey identifies a session in this process's memo and in lease ids.
func sessionKey(tenantID, sessionID string) string { return tenantID + "/" + sessionID }

// GetSession implements ports.SessionStore: one aggregate, or on servers
// without $lookup the session document and its newest turn, read at once.
// Since the state comes from the turn record itself, a session can never
// be behind its committed turns.
func (ss *Sessions) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	view, err := ss.db.readSession(ctx, tenantID, byID(sessionID), 0, sessionID)
	if err != nil {
		return nil, err
	}
	if view == nil {
		return nil, sessionNotFound(sessionID)
	}
	return view.session()
}

// ListSessions implements ports.SessionStore: newest first by creation
// time, then id, from an index for each combination of filters. One
// aggregate joins each session's newest turn; without $lookup the page
// is read first, then each session's newest turn, up to listFanOut at a
// time.
func (ss *Sessions) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	filter := bson.D{{Key: "tenant_id", Value: tenantID}}
	if q.AgentID != "" {
		filter = append(filter, bson.E{Key: "agent_id", Value: q.AgentID})
	}
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(q.Status)})
	}
	ns, id, paged, err := ports.SessionAfter(q.Page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	if paged {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_ns", Value: bson.D{{Key: "$lt", Value: ns}}}},
			bson.D{{Key: "created_ns", Value: ns}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: id}}}},
		}})
	}
	limit := ports.PageLimit(q.Page.Limit)
	rows, err := ss.db.listSessions(ctx, filter, limit+1)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	page := ports.Page[domain.Session]{Items: []domain.Session{}}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1].doc
		page.NextCursor = ports.SessionCursor(tenantID, last.CreatedNS, last.ID)
	}
	for i := range rows {
		sess, err := rows[i].session()
		if err != nil {
			return ports.Page[domain.Session]{}, err
		}
		page.Items = append(page.Items, *sess)
	}
	return page, nil
}

var newestSessionsFirst = bson.D{{Key: "created_ns", Value: -1}, {Key: "_id", Value: -1}}

// listSessions reads a page of sessions with their newest turns.
func (db *DB) listSessions(ctx context.Context, filter bson.D, n int) ([]sessionView, error) {
	if db.caps.lookup {
		return db.aggregateSessions(ctx, mdb.Pipeline{
			{{Key: "$match", Value: filter}}, {{Key: "$sort", Value: newestSessionsFirst}}, {{Key: "$limit", Value: n}},
			lookupHead(),
		})
	}
	docs, err := db.findSessions(ctx, filter, n)
	if err != nil {
		return nil, err
	}
	views := make([]sessionView, len(docs))
	errs := make([]error, len(docs))
	slots := make(chan struct{}, listFanOut)
	var wg sync.WaitGroup
	for i := range docs {
		views[i].doc = docs[i]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			views[i].recent, errs[i] = db.findTurns(workaround(ctx), turnsOf(docs[i].TenantID, docs[i].ID), newestTurnFirst, 1)
		})
	}
	wg.Wait()
	return views, errors.Join(errs...)
}

// listFanOut bounds the concurrent newest-turn reads of one listing.
const listFanOut = 8

func (db *DB) findSessions(ctx context.Context, filter bson.D, n int) ([]sessionDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	cur, err := db.sessions.Find(ctx, filter, options.Find().SetSort(newestSessionsFirst).SetLimit(int64(n)))
	if err != nil {
		return nil, fail(err, "list sessions")
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fail(err, "list sessions")
	}
	return docs, nil
}

// findSession reads the session document. SESSION_NOT_FOUND.
func (db *DB) findSession(ctx context.Context, tenantID, sessionID string) (*sessionDoc, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var doc sessionDoc
	err := db.sessions.FindOne(ctx, db.byID(sessionID, tenantID)).Decode(&doc)
	if errors.Is(err, errNoDocuments) || (err == nil && doc.TenantID != tenantID) {
		return nil, sessionNotFound(sessionID)
	}
	if err != nil {
		return nil, fail(err, "get session")
	}
	return &doc, nil
}

// CloseSession implements ports.SessionStore: the session is read with
// its newest turn, then the status set, the channel key freed and the
// turns committed so far noted in one update of the session document, and
// the turns read again (settleClosedTurns); the answer is the session
// after the turns noted, with the close put on it. A turn committed after
// the close reads back closed (closedBefore), as on the SQL stores one
// committed after the close does.
func (ss *Sessions) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error) {
	db := ss.db
	view, err := db.readSession(ctx, tenantID, byID(sessionID), 0, sessionID)
	if err != nil {
		return nil, err
	}
	if view == nil {
		return nil, sessionNotFound(sessionID)
	}
	if view.doc.Status == string(domain.SessionClosed) {
		return view.session()
	}
	turns := view.turns()
	closedHere, err := db.markClosed(ctx, tenantID, sessionID, at, &turns)
	if err != nil {
		return nil, err
	}
	if !closedHere { // a concurrent close, or ours whose answer was lost
		return ss.GetSession(ctx, tenantID, sessionID)
	}
	if view, err = db.settleClosedTurns(ctx, tenantID, sessionID, view); err != nil {
		return nil, err
	}
	turns = view.turns()
	doc := &view.doc
	doc.Status, doc.ActiveKey, doc.ClosedNS, doc.ClosedTurns = string(domain.SessionClosed), closedKey(sessionID), at.UnixNano(), &turns
	db.memo.noteClosed(sessionKey(tenantID, sessionID), closeNote{turns: turns, closedNS: doc.ClosedNS, baseVersion: doc.BaseVersion})
	return view.session()
}

// settleClosedTurns makes the turns a close noted (view's, read before its
// update) those committed when the update landed: the session document
// holds no turn count to update against, and a turn can commit between
// the read and the update (its lease held by another instance or
// goroutine). Read again after the update, such a turn is counted and
// noted, so it never reads back closed. The read may also count a turn
// committed just after the update, which then reads back as committed
// before the close: the close has not answered yet, so to its caller the
// two ran at once. It returns the view the close answers with: view when
// no turn came (the usual case, one read of a turn number), else the
// session read again (its document closed by this close, the turns noted
// raised to its newest turn).
func (db *DB) settleClosedTurns(ctx context.Context, tenantID, sessionID string, view *sessionView) (*sessionView, error) {
	noted := view.turns()
	if newest, err := db.newestTurnNumber(ctx, tenantID, sessionID); err != nil || newest <= noted {
		return view, err
	}
	again, err := db.readSession(ctx, tenantID, byID(sessionID), 0, sessionID)
	if err != nil || again == nil { // deleted since: the close landed, answer as read
		return view, err
	}
	turns := again.turns()
	filter := append(sessionFilter(tenantID, sessionID), bson.E{Key: "closed_turns", Value: noted})
	uctx, cancel := db.op(ctx)
	_, err = db.sessions.UpdateOne(uctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "closed_turns", Value: turns}}}})
	cancel()
	if err != nil && transient(err) { // settled by reading what the session notes
		doc, findErr := db.findSession(ctx, tenantID, sessionID)
		if findErr == nil && doc.ClosedTurns != nil && *doc.ClosedTurns == turns {
			err = nil
		}
	}
	if err != nil {
		return nil, fail(err, "close session")
	}
	again.doc.ClosedTurns = &turns
	return again, nil
}

// markClosed closes the session if it is active, noting turns as the
// turns committed before the close when not nil: true when this update
// closed it. SESSION_NOT_FOUND.
func (db *DB) markClosed(ctx context.Context, tenantID, sessionID string, at time.Time, turns *int64) (bool, error) {
	set := bson.D{
		{Key: "status", Value: string(domain.SessionClosed)},
		{Key: "active_key", Value: closedKey(sessionID)},
		{Key: "closed_ns", Value: at.UnixNano()},
	}
	if turns != nil {
		set = append(set, bson.E{Key: "closed_turns", Value: *turns})
	}
	uctx, cancel := db.op(ctx)
	defer cancel()
	res, err := db.sessions.UpdateOne(uctx,
		append(sessionFilter(tenantID, sessionID), bson.E{Key: "status", Value: string(domain.SessionActive)}),
		bson.D{{Key: "$set", Value: set}})
	if err != nil {
		// An update whose answer was lost is settled by the read below.
		if !transient(err) {
			return false, fail(err, "close session")
		}
	} else if res.MatchedCount == 1 {
		return true, nil
	}
	doc, findErr := db.findSession(ctx, tenantID, sessionID)
	switch {
	case findErr != nil:
		return false, findErr
	case doc.Status != string(domain.SessionClosed):
		if err == nil {
			err = errors.New("the session stayed active")
		}
		return false, fail(err, "close session")
	}
	return false, nil
}

// DeleteSession implements ports.SessionStore. The session is closed
// first (no turn starts on a closed session, and its channel key is free)
// and its lease sealed (lock.go): acquired like a turn's, waiting for the
// turn in flight or a dead holder's expiry, and never released, so no
// commit can land from then on and every later LockSession is
// SESSION_NOT_FOUND. Then the turns, the session document, the turns once
// more (belt and braces), and the session's old lease documents. A crash
// part-way leaves the session document, so a retried delete finds it and
// finishes.
func (ss *Sessions) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	db := ss.db
	if _, err := db.findSession(ctx, tenantID, sessionID); err != nil {
		return err
	}
	if _, err := db.markClosed(ctx, tenantID, sessionID, db.clock.Now(), nil); err != nil {
		return err
	}
	if err := db.sealLease(ctx, tenantID, sessionID); err != nil {
		return err
	}
	deleteTurns := func(c context.Context) error {
		_, err := db.turns.DeleteMany(c, bson.D{{Key: "session_id", Value: sessionID}})
		return err
	}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"delete turns", deleteTurns},
		{"delete session", func(c context.Context) error {
			_, err := db.sessions.DeleteOne(c, sessionFilter(tenantID, sessionID))
			return err
		}},
		{"delete late turns", deleteTurns},
		{"delete old leases", func(c context.Context) error {
			// The seal stays: it is what refuses every later lease.
			_, err := db.leases.DeleteMany(c, bson.D{{Key: "session_id", Value: sessionID},
				{Key: "tenant_id", Value: tenantID}, {Key: "sealed", Value: bson.D{{Key: "$ne", Value: true}}}})
			return err
		}},
	}
	for _, step := range steps {
		sctx, cancel := db.op(ctx)
		err := step.run(sctx)
		cancel()
		if err != nil {
			return fail(err, fmt.Sprintf("%s of session %s", step.what, sessionID))
		}
	}
	db.memo.forgetSession(sessionKey(tenantID, sessionID))
	return nil
}
