package mongo

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/adapters/clock"
	"focal/domain"
)

// The test server is standalone: start-up refuses it unless allowed, with
// a message that says what to do.
func TestStartRefusesAStandaloneServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	db, err := Connect(ctx, Config{URI: testURI(t), Database: "focal_test_refused"}, clock.System{}, nil)
	if err == nil {
		_ = db.Close(ctx)
		require.False(t, db.caps.standalone, "only a replica set or a sharded cluster starts without FOCAL_MONGO_ALLOW_STANDALONE")
		return
	}
	require.ErrorContains(t, err, "is a standalone server")
	require.ErrorContains(t, err, "FOCAL_MONGO_ALLOW_STANDALONE=true")
	require.False(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a refusal, not an outage")
}

// An index whose definition changed is dropped and created anew at
// start-up, whether it kept its name or its keys.
func TestStartMigratesChangedIndexes(t *testing.T) {
	db := testDB(t)
	ctx := t.Context()
	sessions := db.sessions.Indexes()
	// As an older build left them: the key claim not unique, a listing
	// index under another name, one of the same name on other keys.
	require.NoError(t, sessions.DropOne(ctx, "tenant_active_key"))
	require.NoError(t, sessions.DropOne(ctx, "tenant_status_newest"))
	require.NoError(t, sessions.DropOne(ctx, "tenant_newest"))
	_, err := sessions.CreateMany(ctx, []mdb.IndexModel{
		{Keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "active_key", Value: 1}}, Options: options.Index().SetName("tenant_active_key")},
		{Keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "status", Value: 1}, {Key: "created_ns", Value: -1}, {Key: "_id", Value: -1}},
			Options: options.Index().SetName("old_status_listing")},
		{Keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "created_ns", Value: 1}}, Options: options.Index().SetName("tenant_newest")},
	})
	require.NoError(t, err)

	again := openDB(t, db.cfg, clock.System{})
	have, err := again.listIndexes(ctx, again.sessions)
	require.NoError(t, err)
	byName := map[string]indexInfo{}
	for _, ix := range have {
		byName[ix.Name] = ix
	}
	require.True(t, byName["tenant_active_key"].Unique, "the key claim is unique again")
	require.NotContains(t, byName, "old_status_listing", "the same keys under an old name are gone")
	require.Contains(t, byName, "tenant_status_newest")
	require.Equal(t, "[{tenant_id 1} {created_ns -1} {_id -1}]", fmtKeys(byName["tenant_newest"].Key), "the name's new keys")
	for _, spec := range again.indexSpecs() {
		if spec.col == again.sessions {
			require.Contains(t, byName, spec.name, "every listing filter has its index")
		}
	}
}

// fmtKeys prints index keys with their numbers as plain ints.
func fmtKeys(d bson.D) string {
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = fmt.Sprintf("{%s %v}", e.Key, e.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
