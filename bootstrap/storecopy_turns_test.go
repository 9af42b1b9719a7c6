package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/mongo"
	"focal/application"
	"focal/domain"
	"focal/ports"
	"focal/test/pgtest"
)

// A turn its session was closed while it ran reads back the same on the
// target as on the source: GetTurn and ListTurns give the record with the
// session it left closed, at the close's time and version, and the session
// reads the same, from SQLite to PostgreSQL and to MongoDB, and from
// MongoDB to SQLite (docs/operations.md, "Moving to another store").
func TestStoreCopyKeepsATurnsCloseOnEveryStore(t *testing.T) {
	sqliteAt := func(name string) StoreConfig {
		c, err := StoreFrom("sqlite:" + filepath.Join(t.TempDir(), name))
		require.NoError(t, err)
		return c
	}
	pg, err := StoreFrom(pgtest.Database(t, "focal_copyclose"))
	require.NoError(t, err)
	for _, c := range []struct {
		name     string
		from, to StoreConfig
	}{
		{"sqlite to postgres", sqliteAt("from.db"), pg},
		{"sqlite to mongo", sqliteAt("from.db"), mongoStore(t)},
		{"mongo to sqlite", mongoStore(t), sqliteAt("to.db")},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var src application.StoreSide
			stop, err := startStore(ctx, c.from, zap.NewNop(), &src)
			require.NoError(t, err)
			tenant := uuid.NewString()
			sessionID, turnIDs := closeDuringATurn(t, src, tenant)
			wantSession, wantTurns := storedSession(t, src, tenant, sessionID, turnIDs)
			stop()
			require.Contains(t, wantTurns[len(wantTurns)-1], `"status":"closed"`, "the source's last turn shows the close")

			_, err = CopyStore(ctx, c.from, c.to, CopyTenants{IDs: []string{tenant}}, zap.NewNop())
			require.NoError(t, err)
			var dst application.StoreSide
			stop, err = startStore(ctx, c.to, zap.NewNop(), &dst)
			require.NoError(t, err)
			defer stop()
			gotSession, gotTurns := storedSession(t, dst, tenant, sessionID, turnIDs)
			for i := range wantTurns {
				assert.JSONEq(t, wantTurns[i], gotTurns[i], "turn %d", i+1)
			}
			assert.JSONEq(t, wantSession, gotSession, "the session")
		})
	}
}

// mongoStore is a new database on the test MongoDB server, dropped after
// the test.
func mongoStore(t *testing.T) StoreConfig {
	t.Helper()
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run `make test`, or start a server with `scripts/mongo-server.sh start .state/mongo` and export the URI it prints")
	}
	return mongoDatabase(t, uri, "focal_copyclose_"+strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
}

// mongoDatabase is the database name on the MongoDB server at uri, as a
// store configuration; the database is dropped after the test.
func mongoDatabase(t *testing.T, uri, name string) StoreConfig {
	t.Helper()
	c, err := StoreFrom(uri)
	require.NoError(t, err)
	c.Mongo.Database, c.Mongo.AllowStandalone = name, true
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		db, err := mongo.Connect(ctx, c.Mongo, clock.System{}, nil)
		require.NoError(t, err)
		assert.NoError(t, db.Database().Drop(ctx))
		assert.NoError(t, db.Close(ctx))
	})
	return c
}

// closeDuringATurn stores a session of two turns, the second committed
// after the session was closed while it ran (the close landing between
// the lease and the commit), and returns the session's and turns' ids.
func closeDuringATurn(t *testing.T, s application.StoreSide, tenant string) (string, []string) {
	t.Helper()
	ctx := t.Context()
	key := domain.ChannelKey{TenantID: tenant, AgentID: "shop", Channel: "web", UserChannelID: "ann"}
	l, err := s.Locker.LockSession(ctx, ports.LockRequest{TenantID: tenant, Candidate: domain.NewSession(uuid.NewString(), key, time.Now()),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
	id := l.Token().SessionID
	var turns []string
	for n := 1; n <= 2; n++ {
		l, err := s.Locker.LockSession(ctx, ports.LockRequest{TenantID: tenant, SessionID: id, Wait: time.Second, TTL: time.Minute})
		require.NoError(t, err)
		after := l.Session().Clone()
		after.SetVariable("seen", float64(n))
		after.AdvanceTurn(n, time.Now())
		turn := &domain.Turn{ID: uuid.NewString(), TenantID: tenant, AgentID: "shop", AgentVersion: 1, SessionID: id, TurnNumber: n,
			Message: fmt.Sprintf("message %d", n), Response: fmt.Sprintf("reply %d", n), Status: domain.TurnCompleted,
			CreatedAt: time.Now(), SessionAfter: after}
		if n == 2 {
			_, err := s.Sessions.CloseSession(ctx, tenant, id, after.UpdatedAt.Add(time.Second))
			require.NoError(t, err)
		}
		require.NoError(t, s.Turns.CommitTurn(ctx, l.Token(), turn))
		require.NoError(t, l.Release(ctx))
		turns = append(turns, turn.ID)
	}
	return id, turns
}

// storedSession is the session and each turn, by GetTurn and as
// ListTurns gives it (the two must agree), as JSON.
func storedSession(t *testing.T, s application.StoreSide, tenant, sessionID string, turnIDs []string) (string, []string) {
	t.Helper()
	listed, err := s.Turns.ListTurns(t.Context(), tenant, sessionID, ports.TurnQuery{Order: ports.OrderAsc, Page: ports.PageRequest{Limit: ports.MaxPageSize}})
	require.NoError(t, err)
	require.Len(t, listed.Items, len(turnIDs))
	var turns []string
	for i, id := range turnIDs {
		turn, err := s.Turns.GetTurn(t.Context(), tenant, id)
		require.NoError(t, err)
		b, err := json.Marshal(turn)
		require.NoError(t, err)
		l, err := json.Marshal(listed.Items[i])
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(l), "turn %d: GetTurn and ListTurns", i+1)
		turns = append(turns, string(b))
	}
	sess, err := s.Sessions.GetSession(t.Context(), tenant, sessionID)
	require.NoError(t, err)
	b, err := json.Marshal(sess)
	require.NoError(t, err)
	return string(b), turns
}
