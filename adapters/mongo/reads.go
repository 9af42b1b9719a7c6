package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
)

// Reading a session: its document and its newest turns, which carry its
// state (sessions.go). On MongoDB that is one aggregate with $lookup; on
// servers without $lookup, the document and the turns are read at the
// same time when the session's id is known (two commands, one of them a
// workaround), one after the other when only its channel key is.

// sessionView is a session document, its newest turn (in recent, newest
// first, which may hold more) and, when asked for, the newest turns a
// prompt needs, newest first.
type sessionView struct {
	doc     sessionDoc
	recent  []turnDoc
	history []turnDoc
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

// readSession reads the session m names with its newest turn and the
// history of its newest history turns; nil when there is none. guessID,
// when not empty, is the id the caller expects the session to have:
// without $lookup, a session named by channel key then has its turns read
// at once with its document.
func (db *DB) readSession(ctx context.Context, tenantID string, m sessionMatch, history int, guessID string) (*sessionView, error) {
	if db.caps.lookup {
		pipeline := mdb.Pipeline{{{Key: "$match", Value: m.filter(tenantID)}}, {{Key: "$limit", Value: 1}}, lookupHead()}
		if history > 0 {
			pipeline = append(pipeline, lookupHistory(history))
		}
		views, err := db.aggregateSessions(ctx, pipeline)
		if err != nil || len(views) == 0 {
			return nil, err
		}
		return &views[0], nil
	}
	// One read of whole turns serves the state and the history.
	n := max(history, 1)
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
	return &sessionView{doc: *doc, recent: recent, history: recent[:min(history, len(recent))]}, nil
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

// lookupHead is the $lookup stage joining each session's newest turn
// with only what the session's state needs (the index on (session_id,
// turn_number) serves it).
func lookupHead() bson.D {
	return lookupTurns("recent", 1, bson.D{{Key: "turn_number", Value: 1}, {Key: "session_after", Value: 1}})
}

// lookupHistory is the $lookup stage joining a session's newest n turns
// with only what their history entries need.
func lookupHistory(n int) bson.D { return lookupTurns("history", n, historyFields) }

func lookupTurns(as string, n int, fields bson.D) bson.D {
	return bson.D{{Key: "$lookup", Value: bson.D{
		{Key: "from", Value: colTurns},
		{Key: "localField", Value: "_id"},
		{Key: "foreignField", Value: "session_id"},
		{Key: "pipeline", Value: bson.A{
			bson.D{{Key: "$sort", Value: newestTurnFirst}},
			bson.D{{Key: "$limit", Value: n}},
			bson.D{{Key: "$project", Value: fields}},
		}},
		{Key: "as", Value: as},
	}}}
}

// sessionRow is a session document with the turns $lookup joined.
type sessionRow struct {
	sessionDoc `bson:",inline"`
	Recent     []turnDoc `bson:"recent"`
	History    []turnDoc `bson:"history"`
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
		views[i] = sessionView{doc: rows[i].sessionDoc, recent: rows[i].Recent, history: rows[i].History}
	}
	return views, nil
}
