package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/adapters/clock"
	"focal/ports"
	"focal/test/contract"
)

// testURI is the server the tests use. They fail, never skip, without one:
// `make test` always provides it.
func testURI(t *testing.T) string {
	t.Helper()
	uri := os.Getenv("FOCAL_TEST_MONGO_URI")
	if uri == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set. Start the local test server with\n" +
			"    scripts/mongo-server.sh start .state/mongo\n" +
			"and run the tests with FOCAL_TEST_MONGO_URI set to the URI it prints (make test does all of this).")
	}
	return uri
}

// testDB opens a store on a fresh database, dropped when the test ends.
func testDB(t *testing.T, opts ...Option) *DB {
	return configuredDB(t, Config{}, clock.System{}, opts...)
}

// configuredDB is testDB with cfg's settings (URI and database are the
// test's own; a standalone test server is allowed) on clk.
func configuredDB(t *testing.T, cfg Config, clk ports.Clock, opts ...Option) *DB {
	t.Helper()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	cfg.URI, cfg.Database, cfg.AllowStandalone = testURI(t), "focal_test_"+hex.EncodeToString(suffix), true
	return openDB(t, cfg, clk, opts...)
}

// sibling opens another instance of the service on db's database: its
// own connections and its own memory.
func sibling(t *testing.T, db *DB, opts ...Option) *DB {
	t.Helper()
	return openDB(t, db.cfg, clock.System{}, opts...)
}

func openDB(t *testing.T, cfg Config, clk ports.Clock, opts ...Option) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := Connect(ctx, cfg, clk, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), opts...)
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A test that disconnected the client dropped its database first.
		if err := db.Database().Drop(ctx); err != nil && !errors.Is(err, mdb.ErrClientDisconnected) {
			t.Errorf("drop the test database: %v", err)
		}
		_ = db.Close(ctx)
	})
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
}

func storesOf(db *DB) stores {
	return stores{NewPolicies(db), NewSessions(db), NewTurns(db), NewLeases(db), NewIdempotencyKeys(db), NewRateLimits(db)}
}

// TestStoreContract runs the suite twice. With the default clock skew
// (5s) the suite's leases (10s and shorter) are never held alone long
// enough for a write, so every commit reads its lease back and every
// release on a server without atomic updates takes the takeover marker;
// with a small skew, commits and releases early in a 10s lease take the
// fast paths instead.
func TestStoreContract(t *testing.T) {
	testURI(t)
	for name, cfg := range map[string]Config{
		"DefaultSkew": {},
		"SmallSkew":   {LeaseClockSkew: 100 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
				db := configuredDB(t, cfg, clock.System{})
				s := storesOf(db)
				return contract.Stores{
					Policies: s.policies, Sessions: s.sessions, Turns: s.turns, Locker: s.leases,
					Idempotency: s.keys, Rates: s.rates, PolicyHistory: NewPolicyVersions(db),
					TenantKeys: NewTenantModelKeys(db), Budgets: NewBudgets(db), Usage: NewUsage(db), Tenants: NewTenantList(db),
					// Waiters poll: whoever polls first after a release wins.
					Features: contract.Features{FIFOLease: false, LazySession: true},
				}
			})
		})
	}
}

func receive[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("%s: nothing within %s", what, within)
		panic("unreachable")
	}
}

// extJSON renders a filter or update as relaxed extended JSON.
func extJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
