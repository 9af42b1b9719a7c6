package mongo

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
)

// Reading a session: its document and its newest turns, which carry its
// state (sessions.go). On MongoDB that is one aggregate with $lookup; on
// servers without $lookup, the document and the turns are read at the
// same time when the session's id is known (two commands, one of them a
// workaround), one after the other when only its channel key is.

// sessionView is a session document and its newest turns, newest first.
type sessionView struct {
	doc    sessionDoc
	recent []turnDoc
}

// turns is the session's committed turn count.
func (v *sessionView) turns() int64 {
	if len(v.recent) == 0 {
		return 0
	}
	return v.recent[0].TurnNumber
}

// session is the domain session the view shows.
func (v *sessionView) session() (*domain.Session, error) {
	var head *turnHead
	if len(v.recent) > 0 {
		head = &turnHead{TurnNumber: v.recent[0].TurnNumber, SessionAfter: v.recent[0].SessionAfter}
	}
	return v.doc.session(head)
}

// history is the newest n turns, oldest first.
func (v *sessionView) history(n int) ([]domain.Turn, error) {
	out := make([]domain.Turn, 0, min(n, len(v.recent)))
	for _, d := range slices.Backward(v.recent[:min(n, len(v.recent))]) {
		t, err := d.turn()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// sessionMatch names a session by id or by the channel key it holds.
type sessionMatch struct {
	id        string
	activeKey string
}

func byID(sessionID string) sessionMatch    { return sessionMatch{id: sessionID} }
func byActiveKey(keyID string) sessionMatch { return sessionMatch{activeKey: keyID} }
func (m sessionMatch) filter(tenantID string) bson.D {
	if m.id != "" {
		return sessionFilter(tenantID, m.id)
	}
	return bson.D{{Key: "active_key", Value: m.activeKey}, {Key: "tenant_id", Value: tenantID}}
}

// readSession reads the session m names with its newest max(history, 1)
// turns; nil when there is none. guessID, when not empty, is the id the
// caller expects the session to have: without $lookup, a session named by
// channel key then has its turns read at once with its document.
func (db *DB) readSession(ctx context.Context, tenantID string, m sessionMatch, history int, guessID string) (*sessionView, error) {
	n := max(history, 1)
	if db.caps.lookup {
		views, err := db.aggregateSessions(ctx, mdb.Pipeline{
			{{Key: "$match", Value: m.filter(tenantID)}}, {{Key: "$limit", Value: 1}}, lookupTurns(n, false),
		})
		if err != nil || len(views) == 0 {
			return nil, err
		}
		return &views[0], nil
	}
	if m.id != "" {
		guessID = m.id
	}
	var doc *sessionDoc
	var recent []turnDoc
	errDoc, errTurns := concurrently(
		func() (err error) { doc, err = db.findSessionBy(ctx, tenantID, m); return err },
		func() (err error) {
			if guessID != "" {
				recent, err = db.findTurns(workaround(ctx), turnsOf(tenantID, guessID), newestTurnFirst, n)
			}
			return err
		},
	)
	if errDoc != nil || doc == nil {
		return nil, errDoc
	}
	if errTurns != nil {
		return nil, errTurns
	}
	if doc.ID != guessID {
		var err error
		if recent, err = db.findTurns(workaround(ctx), turnsOf(tenantID, doc.ID), newestTurnFirst, n); err != nil {
			return nil, err
		}
	}
	return &sessionView{doc: *doc, recent: recent}, nil
}

// findSessionBy reads the session document m names, nil when none (the
// tenant checked here too: see DB.byID).
func (db *DB) findSessionBy(ctx context.Context, tenantID string, m sessionMatch) (*sessionDoc, error) {
	filter := m.filter(tenantID)
	if m.id != "" {
		filter = db.byID(m.id, tenantID)
	}
	ctx, cancel := db.op(ctx)
	defer cancel()
	var doc sessionDoc
	err := db.sessions.FindOne(ctx, filter).Decode(&doc)
	if errors.Is(err, errNoDocuments) || (err == nil && doc.TenantID != tenantID) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "read session")
	}
	return &doc, nil
}

// lookupTurns is the $lookup stage joining each session's newest n turns
// (the index on (session_id, turn_number) serves it). headOnly keeps only
// what the session's state needs.
func lookupTurns(n int, headOnly bool) bson.D {
	pipeline := bson.A{
		bson.D{{Key: "$sort", Value: bson.D{{Key: "turn_number", Value: -1}}}},
		bson.D{{Key: "$limit", Value: n}},
	}
	if headOnly {
		pipeline = append(pipeline, bson.D{{Key: "$project", Value: bson.D{
			{Key: "turn_number", Value: 1}, {Key: "session_after", Value: 1}}}})
	}
	return bson.D{{Key: "$lookup", Value: bson.D{
		{Key: "from", Value: colTurns},
		{Key: "localField", Value: "_id"},
		{Key: "foreignField", Value: "session_id"},
		{Key: "pipeline", Value: pipeline},
		{Key: "as", Value: "recent"},
	}}}
}

// sessionRow is a session document with the turns $lookup joined.
type sessionRow struct {
	sessionDoc `bson:",inline"`
	Recent     []turnDoc `bson:"recent"`
}

func (db *DB) aggregateSessions(ctx context.Context, pipeline mdb.Pipeline) ([]sessionView, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	cur, err := db.sessions.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, fail(err, "read sessions")
	}
	var rows []sessionRow
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fail(err, "read sessions")
	}
	views := make([]sessionView, len(rows))
	for i := range rows {
		views[i] = sessionView{doc: rows[i].sessionDoc, recent: rows[i].Recent}
	}
	return views, nil
}
