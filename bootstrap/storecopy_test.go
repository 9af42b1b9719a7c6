package bootstrap

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/application"
	"focal/ports"
	"focal/test/pgtest"
)

// focal store copy names each store by a URL or a configuration file, and
// reads no FOCAL_* variable for either (docs/operations.md, "Moving to
// another store").
func TestStoreFromURLOrConfigFile(t *testing.T) {
	t.Setenv("FOCAL_STORE", "postgres")
	t.Setenv("FOCAL_MONGO_DB", "from-the-environment")
	config := filepath.Join(t.TempDir(), "focal.yaml")
	require.NoError(t, os.WriteFile(config, []byte("store:\n  kind: mongo\n  mongo:\n    uri: mongodb://db:27017\n"), 0o600))
	for _, c := range []struct {
		spec, kind, where string
	}{
		{"sqlite:/tmp/a.db", "sqlite", "sqlite:/tmp/a.db"},
		{"postgres://u@db:5432/focal", "postgres", "postgres://u@db:5432/focal"},
		{"postgresql://u@db/focal", "postgres", "postgresql://u@db/focal"},
		{"mongodb://db:27017", "mongo", "mongodb://db:27017 focal"},
		{"mongodb+srv://cluster.example", "mongo", "mongodb+srv://cluster.example focal"},
		{config, "mongo", "mongodb://db:27017 focal"},
	} {
		got, err := StoreFrom(c.spec)
		require.NoError(t, err, c.spec)
		assert.Equal(t, c.kind, got.Kind, c.spec)
		assert.Equal(t, c.where, where(got), c.spec)
	}
	_, err := StoreFrom("")
	assert.Error(t, err)
}

// A SQLite store moves to PostgreSQL, and to MongoDB named by a
// configuration file: the agent's bundle and the session's turns read the
// same there, and a second run copies nothing (docs/operations.md, "Moving
// to another store").
func TestStoreCopySQLiteToPostgres(t *testing.T) {
	url := pgtest.Database(t, "focal_storecopy")
	copySQLiteTo(t, url, map[string]string{"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": url})
}

func TestStoreCopySQLiteToMongo(t *testing.T) {
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run `make test`, or start a server with `scripts/mongo-server.sh start .state/mongo` and export the URI it prints")
	}
	db := "focal_storecopy_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	config := filepath.Join(t.TempDir(), "target.yaml")
	yaml := "store:\n  kind: mongo\n  mongo:\n    uri: " + uri + "\n    database: " + db + "\n    allow_standalone: true\n"
	require.NoError(t, os.WriteFile(config, []byte(yaml), 0o600))
	copySQLiteTo(t, config, map[string]string{"FOCAL_STORE": "mongo", "FOCAL_MONGO_URI": uri, "FOCAL_MONGO_DB": db, "FOCAL_MONGO_ALLOW_STANDALONE": "true"})
}

// copySQLiteTo serves a turn on a SQLite file, copies the tenant to the
// store target names, and reads the copy back through a core on it
// (configured by env).
func copySQLiteTo(t *testing.T, target string, env map[string]string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	from := filepath.Join(t.TempDir(), "from.db")
	src := startCoreOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": from})
	tenant, agentID := importDemo(ctx, t, src)
	res, err := src.Chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentID, Channel: "web", UserChannelID: "ann", Message: "hello"})
	require.NoError(t, err)
	wantBundle, wantTurns := coreContents(t, src, tenant, agentID, res.SessionID)
	require.NoError(t, src.Stop(ctx))

	fromStore, err := StoreFrom("sqlite:" + from)
	require.NoError(t, err)
	toStore, err := StoreFrom(target)
	require.NoError(t, err)
	done, err := CopyStore(ctx, fromStore, toStore, CopyTenants{IDs: []string{tenant}}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Agents: 1, Versions: 1, Sessions: 1, Turns: 1}}, done)

	dst := startCoreOn(t, env)
	gotBundle, gotTurns := coreContents(t, dst, tenant, agentID, res.SessionID)
	require.NoError(t, dst.Stop(ctx))
	assert.Equal(t, wantBundle, gotBundle)
	assert.Equal(t, wantTurns, gotTurns)

	done, err = CopyStore(ctx, fromStore, toStore, CopyTenants{IDs: []string{tenant}}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Kept: 2}}, done)
}

// importDemo imports the demo agent into core under a new tenant, and
// returns the tenant and the agent's id.
func importDemo(ctx context.Context, t *testing.T, core *Core) (tenant, agentID string) {
	t.Helper()
	demo, err := os.ReadFile(filepath.Join("..", "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	tenant = uuid.NewString()
	imported, err := core.Admin.ImportBundle(ctx, application.BundleImport{TenantID: tenant, Bundle: demo})
	require.NoError(t, err)
	return tenant, imported.Policy.Agent.ID
}

func startCoreOn(t *testing.T, store map[string]string) *Core {
	t.Helper()
	env := map[string]string{"FOCAL_JWT_SECRET": strings.Repeat("s", 32), "FOCAL_LLM_PROVIDER": "offline"}
	maps.Copy(env, store)
	cfg, err := LoadConfigEnv("", env)
	require.NoError(t, err)
	core, err := StartCore(t.Context(), cfg, zap.NewNop())
	require.NoError(t, err)
	return core
}

// coreContents is the agent's bundle and the session's turns, as JSON.
func coreContents(t *testing.T, core *Core, tenant, agentID, sessionID string) (string, string) {
	t.Helper()
	p, err := core.Admin.ExportBundle(t.Context(), tenant, agentID, application.ViewerAdmin)
	require.NoError(t, err)
	turns, err := core.Conversations.Turns(t.Context(), tenant, sessionID, ports.TurnQuery{Order: ports.OrderAsc})
	require.NoError(t, err)
	require.Len(t, turns.Items, 1)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	tb, err := json.Marshal(turns.Items)
	require.NoError(t, err)
	return string(b), string(tb)
}

// CopyStore copies the tenants named or all of them: both, or neither, is
// refused before either store is opened.
func TestCopyStoreNeedsTenantsNamedOrAll(t *testing.T) {
	for _, c := range []struct {
		tenants CopyTenants
		want    string
	}{
		{CopyTenants{IDs: []string{uuid.NewString()}, All: true}, "name tenants or copy them all, not both"},
		{CopyTenants{}, "no tenant named"},
	} {
		_, err := CopyStore(t.Context(), StoreConfig{Kind: "memory"}, StoreConfig{Kind: "memory"}, c.tenants, zap.NewNop())
		require.Error(t, err)
		assert.Equal(t, c.want, err.Error())
	}
}

// where names the data a store configuration reaches.
func where(c StoreConfig) string {
	switch c.Kind {
	case "sqlite":
		return "sqlite:" + c.SQLite.Path
	case "postgres":
		return c.Postgres.URL
	case "mongo":
		return c.Mongo.URI + " " + c.Mongo.Database
	}
	return c.Kind
}
