package mongo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// newTestStore opens a store on a fresh database, dropped when the test ends.
func newTestStore(t *testing.T) *Store { return newTunedStore(t, nil) }

// newTunedStore is newTestStore with a hook on the client options.
func newTunedStore(t *testing.T, tune func(*options.ClientOptions)) *Store {
	t.Helper()
	return newConfiguredStore(t, Config{}, tune)
}

// newConfiguredStore is newTunedStore with cfg's settings (URI and
// database are the test's own).
func newConfiguredStore(t *testing.T, cfg Config, tune func(*options.ClientOptions)) *Store {
	t.Helper()
	return newClockedStore(t, cfg, clock.System{}, tune)
}

// newClockedStore is newConfiguredStore on clk.
func newClockedStore(t *testing.T, cfg Config, clk ports.Clock, tune func(*options.ClientOptions)) *Store {
	t.Helper()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg.URI, cfg.Database = testURI(t), "focal_test_"+hex.EncodeToString(suffix)
	s, err := open(ctx, cfg, clk, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), tune)
	if err != nil {
		t.Fatalf("open the test store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A test that disconnected the client dropped its database first.
		if err := s.Database().Drop(ctx); err != nil && !errors.Is(err, mdb.ErrClientDisconnected) {
			t.Errorf("drop the test database: %v", err)
		}
		_ = s.Close(ctx)
	})
	return s
}

// TestStoreContract runs the suite twice. With the default clock skew
// (5s) the suite's leases (10s and shorter) are never held alone long
// enough for a write, so every commit reads the lease back and every
// release takes the takeover marker; with a small skew, commits and
// releases early in a 10s lease take the fast paths instead.
func TestStoreContract(t *testing.T) {
	testURI(t)
	for name, cfg := range map[string]Config{
		"DefaultSkew": {},
		"SmallSkew":   {LeaseClockSkew: 100 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			contract.RunStoreSuite(t, func(t *testing.T) contract.Stores {
				s := newConfiguredStore(t, cfg, nil)
				return contract.Stores{
					Policies: s, Sessions: s, Turns: s, Locker: s, Idempotency: s, Rates: s,
					// Waiters poll: whoever polls first after a release wins.
					Features: contract.Features{FIFOLease: false},
				}
			})
		})
	}
}
