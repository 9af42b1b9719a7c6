package mongo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
)

// identityDoc binds a channel key to its active session. Its _id is the
// key itself, so at most one exists per key: it is inserted once when the
// key gets a session and deleted (filtered by that session's id, which
// never repeats) when the session is closed or deleted, which frees the key
// for the next insert. Of concurrent first messages exactly one insert
// wins. It carries the new session's JSON, so the session document can be
// rebuilt when its creator died between the two inserts.
type identityDoc struct {
	ID            string    `bson:"_id"`
	TenantID      string    `bson:"tenant_id"`
	AgentID       string    `bson:"agent_id"`
	Channel       string    `bson:"channel"`
	UserChannelID string    `bson:"user_channel_id"`
	SessionID     string    `bson:"session_id"`
	Session       string    `bson:"session"`
	CreatedAt     time.Time `bson:"created_at"`
}

// identityID is the channel key as a fixed-size _id; the parts are kept
// readable in the document's other fields.
func identityID(k domain.ChannelKey) string {
	h := sha256.New()
	for _, part := range []string{k.TenantID, k.AgentID, k.Channel, k.UserChannelID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// maxResolveRounds bounds FindOrCreateActive against a key that keeps
// changing under it (closes racing creates).
const maxResolveRounds = 5

// FindOrCreateActive implements ports.SessionStore. The identity is read
// first; only a missing one is inserted, and a duplicate insert (another
// caller created it first) reads the winner's.
//
// Round trips: a new session costs the identity read and two inserts; an
// existing one the identity read plus GetSession (three, two of latency),
// or GetSession alone (two, one of latency) when this process resolved the
// key before (memo.go). That shortcut is exact: a channel identity is
// freed only after its session was marked closed (CloseSession,
// DeleteSession) or found missing (the repair below), so a session that
// once held the key and reads as active now still holds it.
func (s *Store) FindOrCreateActive(ctx context.Context, candidate *domain.Session) (*domain.Session, bool, error) {
	if candidate == nil || candidate.ID == "" || candidate.TenantID == "" {
		return nil, false, domain.InvalidFields(domain.FieldError{Field: "session", Message: "a candidate with an id and a tenant is required"})
	}
	key := identityID(candidate.Key())
	if id, ok := s.activeOf(key); ok {
		sess, err := s.GetSession(ctx, candidate.TenantID, id)
		if err != nil && !domain.IsCode(err, domain.CodeSessionNotFound) {
			return nil, false, err
		}
		if err == nil && sess.Status == domain.SessionActive && sess.Key() == candidate.Key() {
			return sess, false, nil
		}
		s.forgetActive(key, id)
	}
	sess, created, err := s.resolveActive(ctx, key, candidate)
	if err == nil {
		s.noteActive(key, sess.ID)
	}
	return sess, created, err
}

// resolveActive is FindOrCreateActive from the identity document.
func (s *Store) resolveActive(ctx context.Context, key string, candidate *domain.Session) (*domain.Session, bool, error) {
	for range maxResolveRounds {
		ident, err := s.findIdentity(ctx, key)
		if err != nil {
			return nil, false, err
		}
		if ident == nil {
			won, err := s.createActive(ctx, key, candidate)
			if err != nil {
				return nil, false, err
			}
			if won {
				return candidate.Clone(), true, nil
			}
			continue // another caller created it: read theirs
		}
		sess, err := s.identitySession(ctx, ident)
		if err != nil {
			return nil, false, err
		}
		if sess != nil && sess.Status == domain.SessionActive {
			return sess, false, nil
		}
		// The session was closed (or deleted) but its close did not get to
		// free the key: free it now and create a successor.
		if err := s.deleteIdentity(ctx, ident.ID, ident.SessionID); err != nil {
			return nil, false, err
		}
	}
	return nil, false, &domain.Error{Code: domain.CodeSessionBusy, RetryAfter: time.Second,
		Message: "the session of this channel identity keeps changing; retry"}
}

func (s *Store) findIdentity(ctx context.Context, key string) (*identityDoc, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	var doc identityDoc
	err := s.identities.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&doc)
	if errors.Is(err, mdb.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(err, "find channel identity")
	}
	return &doc, nil
}

// createActive claims the key for candidate (the commit point), then
// stores its session document. false when another caller holds the key.
func (s *Store) createActive(ctx context.Context, key string, candidate *domain.Session) (bool, error) {
	doc, err := newSessionDoc(candidate)
	if err != nil {
		return false, err
	}
	at := s.clock.Now().UnixNano()
	ictx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.identities.InsertOne(ictx, identityDoc{
		ID: key, TenantID: candidate.TenantID, AgentID: candidate.AgentID, Channel: candidate.Channel,
		UserChannelID: candidate.UserChannelID, SessionID: candidate.ID, Session: doc.Initial, CreatedAt: s.clock.Now(),
	})
	if mdb.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err, "claim channel identity")
	}
	if _, err := s.insertSession(ctx, doc); err != nil {
		return false, err
	}
	s.noteSession(leaseID(candidate.TenantID, candidate.ID), at, 0)
	return true, nil
}

// insertSession stores a session document once; false when it existed.
func (s *Store) insertSession(ctx context.Context, doc *sessionDoc) (bool, error) {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.sessions.InsertOne(ctx, doc)
	if mdb.IsDuplicateKeyError(err) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err, "create session")
	}
	return true, nil
}

// identitySession returns the session an identity points at, nil when it
// is gone. A missing session document whose identity still stands is one
// whose creator has not stored it yet, or died first: it is rebuilt from
// the identity. If the identity vanished meanwhile (a concurrent delete),
// the rebuilt document is removed again, so a deleted session never comes
// back.
func (s *Store) identitySession(ctx context.Context, ident *identityDoc) (*domain.Session, error) {
	sess, err := s.GetSession(ctx, ident.TenantID, ident.SessionID)
	if !domain.IsCode(err, domain.CodeSessionNotFound) {
		return sess, err
	}
	var candidate domain.Session
	if err := json.Unmarshal([]byte(ident.Session), &candidate); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored channel identity cannot be read")
	}
	doc, err := newSessionDoc(&candidate)
	if err != nil {
		return nil, err
	}
	inserted, err := s.insertSession(ctx, doc)
	if err != nil {
		return nil, err
	}
	still, err := s.findIdentity(ctx, ident.ID)
	if err != nil {
		return nil, err
	}
	if still == nil || still.SessionID != ident.SessionID {
		if inserted {
			dctx, cancel := s.op(ctx)
			defer cancel()
			if _, err := s.sessions.DeleteOne(dctx, sessionFilter(ident.TenantID, ident.SessionID)); err != nil {
				return nil, s.fail(err, "remove rebuilt session")
			}
		}
		return nil, nil
	}
	sess, err = s.GetSession(ctx, ident.TenantID, ident.SessionID)
	if domain.IsCode(err, domain.CodeSessionNotFound) {
		return nil, nil
	}
	return sess, err
}

// releaseIdentity frees the session's channel key if it still points at
// the session.
func (s *Store) releaseIdentity(ctx context.Context, doc *sessionDoc) error {
	key := identityID(domain.ChannelKey{TenantID: doc.TenantID, AgentID: doc.AgentID, Channel: doc.Channel, UserChannelID: doc.UserChannelID})
	return s.deleteIdentity(ctx, key, doc.ID)
}

func (s *Store) deleteIdentity(ctx context.Context, key, sessionID string) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.identities.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "session_id", Value: sessionID}})
	return s.fail(err, "free channel identity")
}
