package bootstrap

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/mongo"
	"focal/application"
	"focal/test/pgtest"
)

// sameStoreCases checks that each spelling of one store is refused as a
// copy of it onto itself, and that other stores are not.
func sameStoreCases(t *testing.T, store StoreConfig, spellings []StoreConfig, others ...StoreConfig) {
	t.Helper()
	for _, s := range spellings {
		_, err := CopyStore(t.Context(), store, s, CopyTenants{All: true}, zap.NewNop())
		require.ErrorIs(t, err, ErrSameStore, where(s))
		same, err := sameStore(t.Context(), s, store)
		require.NoError(t, err)
		assert.True(t, same, where(s))
	}
	for _, other := range others {
		same, err := sameStore(t.Context(), store, other)
		require.NoError(t, err)
		assert.False(t, same, "another store: %s", where(other))
	}
}

// A SQLite file named by another path (relative, through a symbolic or a
// hard link) is the same store: copying it onto itself is refused
// (docs/operations.md, "Moving to another store").
func TestStoreCopyKnowsASQLiteFileByAnyPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "focal.db")
	require.NoError(t, startCoreOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": path}).Stop(t.Context()))
	require.NoError(t, os.Symlink(path, filepath.Join(dir, "link.db")))
	require.NoError(t, os.Link(path, filepath.Join(dir, "hard.db")))
	wd, err := os.Getwd()
	require.NoError(t, err)
	relative, err := filepath.Rel(wd, path)
	require.NoError(t, err)
	other := filepath.Join(dir, "other.db")
	require.NoError(t, startCoreOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": other}).Stop(t.Context()))

	sqliteAt := func(p string) StoreConfig {
		c, err := StoreFrom("sqlite:" + p)
		require.NoError(t, err)
		return c
	}
	sameStoreCases(t, sqliteAt(path),
		[]StoreConfig{sqliteAt(path), sqliteAt(relative), sqliteAt(filepath.Join(dir, "link.db")), sqliteAt(filepath.Join(dir, "hard.db")),
			sqliteAt(filepath.Join(dir, ".", "sub", "..", "focal.db"))},
		sqliteAt(other))
}

// A PostgreSQL database named by another URL (postgresql://, the host by
// name, other parameters in another order) is the same store; another
// database on the same server, or another schema of it, is not.
func TestStoreCopyKnowsAPostgresDatabaseByAnyURL(t *testing.T) {
	base := pgtest.Database(t, "focal_samestore")
	other := pgtest.Database(t, "focal_otherstore")
	u, err := url.Parse(base)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", u.Hostname(), "the test server listens on 127.0.0.1")
	byName := *u
	byName.Scheme, byName.Host = "postgresql", "localhost:"+u.Port()
	byName.RawQuery = "application_name=spelt-otherwise&" + u.RawQuery

	conn, err := pgx.Connect(t.Context(), base)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `CREATE SCHEMA other`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(t.Context()))
	otherSchema := base + "&search_path=other"

	pg := func(url string) StoreConfig {
		c, err := StoreFrom(url)
		require.NoError(t, err)
		return c
	}
	sameStoreCases(t, pg(base), []StoreConfig{pg(base), pg(byName.String())}, pg(other), pg(otherSchema))
}

// A MongoDB database reached by another URI (the host by name, options
// added) is the same store; another database on the same server is not.
func TestStoreCopyKnowsAMongoDatabaseByAnyURI(t *testing.T) {
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run `make test`, or start a server with `scripts/mongo-server.sh start .state/mongo` and export the URI it prints")
	}
	u, err := url.Parse(uri)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", u.Hostname(), "the test server listens on 127.0.0.1")
	byName := "mongodb://localhost:" + u.Port() + "/?connectTimeoutMS=9000&appName=spelt-otherwise"

	mongoStore := func(uri, db string) StoreConfig {
		c := StoreConfig{Kind: "mongo"}
		c.Mongo.URI, c.Mongo.Database, c.Mongo.AllowStandalone = uri, db, true
		return c
	}
	var stores []StoreConfig
	for range 2 {
		c := mongoStore(uri, "focal_samestore_"+strings.ReplaceAll(uuid.NewString()[:8], "-", ""))
		db, err := mongo.Connect(t.Context(), c.Mongo, clock.System{}, nil)
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx := context.WithoutCancel(t.Context())
			assert.NoError(t, db.Database().Drop(ctx))
			assert.NoError(t, db.Close(ctx))
		})
		stores = append(stores, c)
	}
	sameStoreCases(t, stores[0], []StoreConfig{mongoStore(byName, stores[0].Mongo.Database)}, stores[1])
}

// A database of the same name on another MongoDB server is another store:
// a copy from one to the other is not refused as a copy onto itself, and
// runs (docs/operations.md, "Moving to another store"). The other server
// is the second one make test starts (for test/chaos); any will do.
func TestStoreCopyKnowsAnotherMongoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	uri, otherURI := os.Getenv("FOCAL_TEST_MONGO_URI"), os.Getenv("FOCAL_TEST_CHAOS_MONGO_URI")
	if uri == "" || otherURI == "" || otherURI == uri {
		t.Fatal("FOCAL_TEST_MONGO_URI and FOCAL_TEST_CHAOS_MONGO_URI must name two servers: run `make test`, or start two with `scripts/mongo-server.sh start DIR` on two directories and export the URIs they print")
	}
	name := "focal_twoservers_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	from, to := mongoDatabase(t, uri, name), mongoDatabase(t, otherURI, name)
	src := startCoreOn(t, map[string]string{"FOCAL_STORE": "mongo", "FOCAL_MONGO_URI": uri, "FOCAL_MONGO_DB": name, "FOCAL_MONGO_ALLOW_STANDALONE": "true"})
	tenant, _ := importDemo(ctx, t, src)
	require.NoError(t, src.Stop(ctx))
	require.NoError(t, startCoreOn(t, map[string]string{"FOCAL_STORE": "mongo", "FOCAL_MONGO_URI": otherURI, "FOCAL_MONGO_DB": name,
		"FOCAL_MONGO_ALLOW_STANDALONE": "true"}).Stop(ctx), "a store there already, its collections made")

	same, err := sameStore(ctx, from, to)
	require.NoError(t, err)
	assert.False(t, same, "%s on two servers", name)
	done, err := CopyStore(ctx, from, to, CopyTenants{IDs: []string{tenant}}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Agents: 1, Versions: 1}}, done)
}

// fileSum is the SHA-256 of a file's bytes.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// A copy only reads its source: a SQLite file taken with its
// write-ahead log while its service ran (a snapshot of a live instance)
// is copied from, log included, and left byte for byte as it was, the log
// not folded into the file (docs/operations.md, "Moving to another
// store").
func TestStoreCopyLeavesItsSourceAsItWas(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	live, from := filepath.Join(dir, "live.db"), filepath.Join(dir, "from.db")
	src := startCoreOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": live})
	tenant, _ := importDemo(ctx, t, src)
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + suffix)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(from+suffix, b, 0o600))
	}
	require.NoError(t, src.Stop(ctx))
	before, beforeLog := fileSum(t, from), fileSum(t, from+"-wal")

	fromStore, err := StoreFrom("sqlite:" + from)
	require.NoError(t, err)
	toStore, err := StoreFrom("sqlite:" + filepath.Join(dir, "to.db"))
	require.NoError(t, err)
	done, err := CopyStore(ctx, fromStore, toStore, CopyTenants{All: true}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Agents: 1, Versions: 1}}, done, "the agent, from the log")
	assert.Equal(t, before, fileSum(t, from), "the file")
	assert.Equal(t, beforeLog, fileSum(t, from+"-wal"), "its log")
}

// olderSchema writes the first n of a store's migrations (dir, in the
// repository) through exec, as the focal that wrote it had them, with
// their rows in schema_migrations; record is that insert's statement.
func olderSchema(t *testing.T, dir string, n int, exec func(sql string, args ...any) error, record string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "adapters", dir, "migrations", "*.sql"))
	require.NoError(t, err)
	require.Greater(t, len(files), n, "a later migration to lack")
	require.NoError(t, exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns BIGINT NOT NULL DEFAULT 0)`))
	for i, f := range files[:n] {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, exec(string(body)), f)
		require.NoError(t, exec(record, i+1, filepath.Base(f)))
	}
}

// A source whose schema is not this focal's is refused, not migrated: an
// older one (it lacks a migration), a newer one (it has one this focal
// does not know), a file that is no store (docs/operations.md, "Moving to
// another store").
func TestStoreCopyRefusesASourceOfAnotherSchema(t *testing.T) {
	dir := t.TempDir()
	open := func(path string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	older := filepath.Join(dir, "older.db")
	olderDB := open(older)
	olderSchema(t, "sqlite", 2, func(q string, args ...any) error { _, err := olderDB.Exec(q, args...); return err },
		`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`)
	newer := filepath.Join(dir, "newer.db")
	require.NoError(t, startCoreOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": newer}).Stop(t.Context()))
	_, err := open(newer).Exec(`INSERT INTO schema_migrations (version, name, applied_ns) VALUES (999, '999_later.sql', 0)`)
	require.NoError(t, err)
	none := filepath.Join(dir, "none.db")
	require.NoError(t, os.WriteFile(none, nil, 0o600))

	for _, c := range []struct{ path, want string }{
		{older, "its schema is older than this focal's: it lacks migrations 003_turn_after_columns.sql; start the service of this version on it once"},
		{newer, "its schema has migrations this focal does not know ([999])"},
		{none, "not a Focal store: it has no schema_migrations table"},
	} {
		before := fileSum(t, c.path)
		from, err := StoreFrom("sqlite:" + c.path)
		require.NoError(t, err)
		to, err := StoreFrom("sqlite:" + filepath.Join(dir, "to.db"))
		require.NoError(t, err)
		_, err = CopyStore(t.Context(), from, to, CopyTenants{All: true}, zap.NewNop())
		require.Error(t, err, c.path)
		assert.Contains(t, err.Error(), c.want)
		assert.Contains(t, err.Error(), "the source store: sqlite store "+c.path)
		assert.Equal(t, before, fileSum(t, c.path), "%s left as it was", c.path)
	}
}

// A PostgreSQL source of an older schema is refused and left at it.
func TestStoreCopyRefusesAPostgresSourceOfAnOlderSchema(t *testing.T) {
	ctx := t.Context()
	url := pgtest.Database(t, "focal_olderschema")
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	olderSchema(t, "postgres", 3, func(q string, args ...any) error { _, err := conn.Exec(ctx, q, args...); return err },
		`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`)

	from, err := StoreFrom(url)
	require.NoError(t, err)
	to, err := StoreFrom("sqlite:" + filepath.Join(t.TempDir(), "to.db"))
	require.NoError(t, err)
	_, err = CopyStore(ctx, from, to, CopyTenants{All: true}, zap.NewNop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the source store: postgres store: its schema is older than this focal's: it lacks migrations 004_take_nonces.sql")
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	assert.Equal(t, []int32{1, 2, 3}, applied, "not migrated")
}

// A MongoDB source is only read: its indexes are neither made nor
// changed and no lease epoch is reserved in it, so a standalone server
// needs no allow_standalone to be copied from; a database without Focal's
// collections is refused (docs/operations.md, "Moving to another store").
func TestStoreCopyOnlyReadsAMongoSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run `make test`, or start a server with `scripts/mongo-server.sh start .state/mongo` and export the URI it prints")
	}
	name := "focal_readsource_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	env := map[string]string{"FOCAL_STORE": "mongo", "FOCAL_MONGO_URI": uri, "FOCAL_MONGO_DB": name, "FOCAL_MONGO_ALLOW_STANDALONE": "true"}
	src := startCoreOn(t, env)
	tenant, _ := importDemo(ctx, t, src)
	require.NoError(t, src.Stop(ctx))

	client, err := mongo.Connect(ctx, mongo.Config{URI: uri, Database: name, AllowStandalone: true}, clock.System{}, nil)
	require.NoError(t, err)
	defer func() { _ = client.Close(context.WithoutCancel(ctx)) }()
	db := client.Database()
	t.Cleanup(func() { _ = db.Drop(context.WithoutCancel(ctx)) })
	require.NoError(t, db.Collection("sessions").Indexes().DropOne(ctx, "tenant_newest"), "an index an older focal lacked")
	state := func() (int64, []string) {
		epochs, err := db.Collection("lease_epochs").CountDocuments(ctx, map[string]any{})
		require.NoError(t, err)
		names, err := db.Collection("sessions").Indexes().ListSpecifications(ctx)
		require.NoError(t, err)
		var out []string
		for _, ix := range names {
			out = append(out, ix.Name)
		}
		return epochs, out
	}
	epochs, indexes := state()

	config := filepath.Join(t.TempDir(), "source.yaml")
	require.NoError(t, os.WriteFile(config, []byte("store:\n  kind: mongo\n  mongo:\n    uri: "+uri+"\n    database: "+name+"\n"), 0o600))
	from, err := StoreFrom(config)
	require.NoError(t, err)
	to, err := StoreFrom("sqlite:" + filepath.Join(t.TempDir(), "to.db"))
	require.NoError(t, err)
	done, err := CopyStore(ctx, from, to, CopyTenants{All: true}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Agents: 1, Versions: 1}}, done)
	gotEpochs, gotIndexes := state()
	assert.Equal(t, epochs, gotEpochs, "no lease epoch reserved")
	assert.Equal(t, indexes, gotIndexes, "no index made")

	from.Mongo.Database = name + "_none"
	_, err = CopyStore(ctx, from, to, CopyTenants{All: true}, zap.NewNop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `not a Focal store: the database "`+name+`_none" has no policies collection`)
}

// A PostgreSQL source opened read-only (its schema checked, every
// transaction read-only) gives its agents, sessions and turns.
func TestStoreCopyReadsAPostgresSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	url := pgtest.Database(t, "focal_readsource")
	src := startCoreOn(t, map[string]string{"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": url})
	tenant, agentID := importDemo(ctx, t, src)
	_, err := src.Chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentID, Channel: "web", UserChannelID: "ann", Message: "hello"})
	require.NoError(t, err)
	require.NoError(t, src.Stop(ctx))

	from, err := StoreFrom(url)
	require.NoError(t, err)
	to, err := StoreFrom("sqlite:" + filepath.Join(t.TempDir(), "to.db"))
	require.NoError(t, err)
	done, err := CopyStore(ctx, from, to, CopyTenants{All: true}, zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, []application.CopyResult{{TenantID: tenant, Agents: 1, Versions: 1, Sessions: 1, Turns: 1}}, done)
}
