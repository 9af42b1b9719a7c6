package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/adapters/clock"
	"focal/adapters/sqlkit"
	"focal/test/contract"
	"focal/test/pgtest"
)

// freshDatabase creates a database of its own for one test, dropped when
// the test ends, and returns its URL.
func freshDatabase(t *testing.T) string { return pgtest.Database(t, "focal_test") }

// testDB opens a store on a fresh database.
func testDB(t *testing.T, opts ...Option) *DB {
	t.Helper()
	return openDB(t, Config{URL: freshDatabase(t)}, opts...)
}

// Instances starting at once on an empty database apply each migration
// once (the advisory lock) and all start.
func TestConcurrentStartsMigrateOnce(t *testing.T) {
	cfg := Config{URL: freshDatabase(t)}
	const instances = 4
	var wg sync.WaitGroup
	dbs, errs := make([]*DB, instances), make([]error, instances)
	for i := range instances {
		wg.Go(func() {
			dbs[i], errs[i] = Connect(t.Context(), cfg, clock.System{}, zap.NewNop())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d did not start: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close(context.Background()) })
	}
	want, err := sqlkit.Migrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := dbs[0].Pool().QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(want) {
		t.Fatalf("schema_migrations has %d rows after %d concurrent starts, want %d", applied, instances, len(want))
	}
}

func openDB(t *testing.T, cfg Config, opts ...Option) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := Connect(ctx, cfg, clock.System{}, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), opts...)
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return db
}

// stores is every port of db.
type stores struct {
	policies *Policies
	sessions *Sessions
	turns    *Turns
	leases   *Leases
	keys     *IdempotencyKeys
	rates    *RateLimits
	tenants  *Tenants
}

func storesOf(db *DB) stores {
	return stores{NewPolicies(db), NewSessions(db), NewTurns(db), NewLeases(db), NewIdempotencyKeys(db), NewRateLimits(db), NewTenants(db)}
}

// The suite shares one database: every case uses fresh ids. Its default
// collation is linguistic, as a production server's often is, so a
// comparison or order of text that needs byte-wise (COLLATE "C") and
// lacks it fails here.
func TestStoreContract(t *testing.T) {
	db := openDB(t, Config{URL: pgtest.DatabaseWith(t, "focal_test", pgtest.LinguisticCollation)})
	contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
		s := storesOf(db)
		return contract.Stores{
			Policies: s.policies, Sessions: s.sessions, Turns: s.turns, Locker: s.leases,
			Idempotency: s.keys, Rates: s.rates, PolicyHistory: s.policies,
			TenantKeys: s.tenants, Budgets: s.tenants, Usage: s.tenants, Tenants: s.tenants,
			// Waiters of one process queue and are woken by its releases.
			// A lock by key builds the new session every time: its one
			// find-or-create statement needs the id up front.
			Features: contract.Features{FIFOLease: true, LazySession: false},
			Waiting:  func(tenantID, sessionID string) int { return db.waiters.Len(sqlkit.LeaseKey(tenantID, sessionID)) },
		}
	})
}

// A server (or connection) that may lose an acknowledged commit is refused
// at start-up, with the setting named.
func TestStartRefusesCommitsThatMayBeLost(t *testing.T) {
	cfg := Config{URL: freshDatabase(t) + "&synchronous_commit=off"}
	db, err := Connect(t.Context(), cfg, clock.System{}, zap.NewNop())
	if err == nil {
		_ = db.Close(context.Background())
		t.Fatal("started on synchronous_commit=off")
	}
	if !strings.Contains(err.Error(), "synchronous_commit=off") {
		t.Fatalf("the error does not name the setting: %v", err)
	}
}
