package mongo

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// These cases leave the documents as a process that died between two
// writes would, and check that the next caller repairs them.

func TestSessionRebuiltWhenItsCreatorDied(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	orphan := domain.NewSession(uuid.NewString(), k, time.Now())
	snapshot, err := json.Marshal(orphan)
	require.NoError(t, err)
	// The key was claimed, the session document never written.
	_, err = s.identities.InsertOne(ctx, identityDoc{ID: identityID(k), TenantID: k.TenantID, AgentID: k.AgentID,
		Channel: k.Channel, UserChannelID: k.UserChannelID, SessionID: orphan.ID, Session: string(snapshot)})
	require.NoError(t, err)

	got, created, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, orphan.ID, got.ID, "the claimed session is rebuilt, not replaced")
	again, err := s.GetSession(ctx, k.TenantID, orphan.ID)
	require.NoError(t, err)
	require.Equal(t, domain.SessionActive, again.Status)
	page, err := s.ListSessions(ctx, k.TenantID, ports.SessionQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
}

func TestKeyFreedWhenACloseDiedHalfway(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	first, _, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	// The status was written, the identity never freed.
	_, err = s.sessions.UpdateOne(ctx, bson.D{{Key: "_id", Value: first.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "closed"}, {Key: "closed_ns", Value: time.Now().UnixNano()}}}})
	require.NoError(t, err)

	next, created, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	require.True(t, created, "the closed session's key is freed and a new session opened")
	require.NotEqual(t, first.ID, next.ID)
}

func TestDeleteFinishesAfterADeleteDiedHalfway(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	k := domain.ChannelKey{TenantID: uuid.NewString(), AgentID: uuid.NewString(), Channel: "sms", UserChannelID: "u1"}
	sess, _, err := s.FindOrCreateActive(ctx, domain.NewSession(uuid.NewString(), k, time.Now()))
	require.NoError(t, err)
	// The identity went, nothing else did.
	require.NoError(t, s.deleteIdentity(ctx, identityID(k), sess.ID))
	require.NoError(t, s.DeleteSession(ctx, k.TenantID, sess.ID))
	_, err = s.GetSession(ctx, k.TenantID, sess.ID)
	require.True(t, domain.IsCode(err, domain.CodeSessionNotFound))
}

func TestUnreachableServerIsStoreUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := New(ctx, Config{URI: "mongodb://127.0.0.1:1/?connectTimeoutMS=200", ServerSelectionTimeout: 300 * time.Millisecond},
		clock.System{}, nil)
	require.Error(t, err)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "got %v", err)
}

func TestTimeoutsAndClosedClientAreStoreUnavailable(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	s.cfg.OperationTimeout = time.Nanosecond
	_, err := s.GetSession(ctx, uuid.NewString(), uuid.NewString())
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "an operation timeout: got %v", err)
	s.cfg.OperationTimeout = DefaultOperationTimeout

	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	_, err = s.GetPolicy(expired, uuid.NewString(), "a")
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "the caller's deadline: got %v", err)

	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Database().Drop(ctx))
	require.NoError(t, s.client.Disconnect(ctx))
	err = s.Ping(ctx)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a disconnected client: got %v", err)
	_, err = s.LockSession(ctx, uuid.NewString(), uuid.NewString(), time.Second, time.Second)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a disconnected client: got %v", err)
}
