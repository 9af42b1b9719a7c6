package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
	"focal/ports"
)

// sessionDoc is a session's identity and status. It is written twice at
// most: inserted when the session is created and updated when it is
// closed. The state a session has after its turns is not here: it lives in
// the newest turn record (the commit point), which every read joins in. No
// projection is ever written after a turn, so no update can race a close
// (servers like FerretDB lose one of two concurrent updates of a document
// even when they touch different fields).
type sessionDoc struct {
	ID            string `bson:"_id"`
	TenantID      string `bson:"tenant_id"`
	AgentID       string `bson:"agent_id"`
	Channel       string `bson:"channel"`
	UserChannelID string `bson:"user_channel_id"`
	Status        string `bson:"status"`
	// CreatedNS orders listings exactly; CreatedAt is for people.
	CreatedNS int64     `bson:"created_ns"`
	CreatedAt time.Time `bson:"created_at"`
	ClosedNS  int64     `bson:"closed_ns,omitempty"`
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

func newSessionDoc(s *domain.Session) (*sessionDoc, error) {
	initial, err := json.Marshal(s)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "session cannot be stored")
	}
	doc := &sessionDoc{
		ID: s.ID, TenantID: s.TenantID, AgentID: s.AgentID, Channel: s.Channel, UserChannelID: s.UserChannelID,
		Status: string(s.Status), CreatedNS: s.CreatedAt.UnixNano(), CreatedAt: s.CreatedAt,
		BaseVersion: s.Version, Initial: string(initial),
	}
	if doc.Status == "" {
		doc.Status = string(domain.SessionActive)
	}
	if s.Status == domain.SessionClosed && s.ClosedAt != nil {
		doc.ClosedNS = s.ClosedAt.UnixNano()
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

func sessionNotFound(sessionID string) error {
	return domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
}

func sessionFilter(tenantID, sessionID string) bson.D {
	return bson.D{{Key: "_id", Value: sessionID}, {Key: "tenant_id", Value: tenantID}}
}

// findSession reads the session document. SESSION_NOT_FOUND.
func (s *Store) findSession(ctx context.Context, tenantID, sessionID string) (*sessionDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc sessionDoc
	err := s.sessions.FindOne(ctx, sessionFilter(tenantID, sessionID)).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, sessionNotFound(sessionID)
	}
	if err != nil {
		return nil, s.fail(err, "get session")
	}
	return &doc, nil
}

// newestTurn returns the session's newest turn, nil when it has none.
func (s *Store) newestTurn(ctx context.Context, tenantID, sessionID string) (*turnHead, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var head turnHead
	err := s.turns.FindOne(ctx, turnsOf(tenantID, sessionID), options.FindOne().
		SetSort(bson.D{{Key: "turn_number", Value: -1}}).
		SetProjection(bson.D{{Key: "turn_number", Value: 1}, {Key: "session_after", Value: 1}})).Decode(&head)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "read newest turn")
	}
	return &head, nil
}

// GetSession implements ports.SessionStore: the session document and the
// newest turn are read concurrently, two round trips costing one of
// latency. Since the state comes from the turn record itself, a session
// can never be behind its committed turns. What it saw is remembered
// (memo.go): LockSession and CommitTurn skip their reads on it.
func (s *Store) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	at := s.clock.Now().UnixNano()
	var doc *sessionDoc
	var head *turnHead
	errDoc, errHead := concurrently(
		func() (err error) { doc, err = s.findSession(ctx, tenantID, sessionID); return err },
		func() (err error) { head, err = s.newestTurn(ctx, tenantID, sessionID); return err },
	)
	if errDoc != nil {
		return nil, errDoc
	}
	if errHead != nil {
		return nil, errHead
	}
	turns := int64(0)
	if head != nil {
		turns = head.TurnNumber
	}
	s.noteSession(leaseID(tenantID, sessionID), at, turns)
	return doc.session(head)
}

// ListSessions implements ports.SessionStore: newest first by creation
// time, then id. One round trip for the page, then the newest turn of each
// listed session, up to listFanOut at a time (page size / listFanOut round
// trips of latency).
func (s *Store) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	filter := bson.D{{Key: "tenant_id", Value: tenantID}}
	if q.AgentID != "" {
		filter = append(filter, bson.E{Key: "agent_id", Value: q.AgentID})
	}
	if q.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(q.Status)})
	}
	if q.Page.Cursor != "" {
		ns, id, err := parseSessionCursor(q.Page.Cursor)
		if err != nil {
			return ports.Page[domain.Session]{}, err
		}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "created_ns", Value: bson.D{{Key: "$lt", Value: ns}}}},
			bson.D{{Key: "created_ns", Value: ns}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: id}}}},
		}})
	}
	limit := ports.PageLimit(q.Page.Limit)
	docs, err := s.findSessions(ctx, filter, limit+1)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	page := ports.Page[domain.Session]{Items: []domain.Session{}}
	if len(docs) > limit {
		docs = docs[:limit]
		last := docs[limit-1]
		page.NextCursor = ports.EncodeCursor(strconv.FormatInt(last.CreatedNS, 10) + "|" + last.ID)
	}
	heads, err := s.newestTurns(ctx, tenantID, docs)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	for i := range docs {
		sess, err := docs[i].session(heads[i])
		if err != nil {
			return ports.Page[domain.Session]{}, err
		}
		page.Items = append(page.Items, *sess)
	}
	return page, nil
}

func (s *Store) findSessions(ctx context.Context, filter bson.D, n int) ([]sessionDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.sessions.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "created_ns", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(n)))
	if err != nil {
		return nil, s.fail(err, "list sessions")
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail(err, "list sessions")
	}
	return docs, nil
}

// listFanOut bounds the concurrent newest-turn reads of one listing.
const listFanOut = 8

// newestTurns reads the newest turn of each session. (A $group with
// $first would do it in one round trip on MongoDB, but compatible servers
// such as FerretDB lack the accumulator; indexed point reads work on all.)
func (s *Store) newestTurns(ctx context.Context, tenantID string, docs []sessionDoc) ([]*turnHead, error) {
	heads := make([]*turnHead, len(docs))
	errs := make([]error, len(docs))
	slots := make(chan struct{}, listFanOut)
	var wg sync.WaitGroup
	for i := range docs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			heads[i], errs[i] = s.newestTurn(ctx, tenantID, docs[i].ID)
		}()
	}
	wg.Wait()
	return heads, errors.Join(errs...)
}

func parseSessionCursor(c string) (int64, string, error) {
	raw, err := ports.DecodeCursor(c)
	if err != nil {
		return 0, "", err
	}
	nsText, id, ok := strings.Cut(raw, "|")
	ns, perr := strconv.ParseInt(nsText, 10, 64)
	if !ok || perr != nil || id == "" {
		return 0, "", badCursor()
	}
	return ns, id, nil
}

// CloseSession implements ports.SessionStore. The status is set on the
// session document first, then the channel identity is freed; a crash in
// between leaves an identity pointing at a closed session, which
// FindOrCreateActive frees itself. Three round trips plus GetSession's two.
func (s *Store) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error) {
	doc, err := s.findSession(ctx, tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	if err := s.markClosed(ctx, doc, at); err != nil {
		return nil, err
	}
	if err := s.releaseIdentity(ctx, doc); err != nil {
		return nil, err
	}
	return s.GetSession(ctx, tenantID, sessionID)
}

// markClosed sets the status of an active session to closed.
func (s *Store) markClosed(ctx context.Context, doc *sessionDoc, at time.Time) error {
	if doc.Status == string(domain.SessionClosed) {
		return nil
	}
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.sessions.UpdateOne(ctx,
		append(sessionFilter(doc.TenantID, doc.ID), bson.E{Key: "status", Value: string(domain.SessionActive)}),
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "status", Value: string(domain.SessionClosed)},
			{Key: "closed_ns", Value: at.UnixNano()},
			{Key: "closed_at", Value: at},
		}}})
	return s.fail(err, "close session")
}

// DeleteSession implements ports.SessionStore. The session is closed
// first (the application starts no turn on a closed session) and its
// channel identity freed (nothing finds it by key); then its lease is
// sealed (lease.go): acquired like a turn's, waiting for the turn in
// flight or a dead holder's expiry, and never released, so no commit can
// land from then on, even one that skips its lease read, and every later
// LockSession is SESSION_NOT_FOUND. Then the turns, the session document,
// and the turns once more, for a commit without a lease (fence 0) that
// checked the session before it went. A crash part-way leaves the session
// document, so a retried delete finds it and finishes. Seven round trips
// when no turn is in flight.
func (s *Store) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	doc, err := s.findSession(ctx, tenantID, sessionID)
	if err != nil {
		return err
	}
	s.forgetSession(leaseID(tenantID, sessionID))
	if err := s.markClosed(ctx, doc, s.clock.Now()); err != nil {
		return err
	}
	if err := s.releaseIdentity(ctx, doc); err != nil {
		return err
	}
	if err := s.sealLease(ctx, tenantID, sessionID); err != nil {
		return err
	}
	deleteTurns := func(c context.Context) error {
		_, err := s.turns.DeleteMany(c, bson.D{{Key: "session_id", Value: sessionID}})
		return err
	}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"delete turns", deleteTurns},
		{"delete session", func(c context.Context) error {
			_, err := s.sessions.DeleteOne(c, sessionFilter(tenantID, sessionID))
			return err
		}},
		{"delete late turns", deleteTurns},
	}
	for _, step := range steps {
		sctx, cancel := s.op(ctx)
		err := step.run(sctx)
		cancel()
		if err != nil {
			return s.fail(err, fmt.Sprintf("%s of session %s", step.what, sessionID))
		}
	}
	s.forgetSession(leaseID(tenantID, sessionID))
	return nil
}
