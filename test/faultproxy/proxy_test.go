package faultproxy

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// target is the MongoDB test server's address. The tests fail, never
// skip, without one: make test always provides it.
func target(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("FOCAL_TEST_MONGO_URI")
	if raw == "" {
		t.Fatal("FOCAL_TEST_MONGO_URI is not set: run make test, or start scripts/mongo-server.sh and export the URI it prints")
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

func start(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.Target = target(t)
	p := Start(ln, cfg)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// collection connects through p to a fresh collection; faults are off
// while it connects.
func collection(t *testing.T, p *Proxy) *mdb.Collection {
	t.Helper()
	c, err := mdb.Connect(options.Client().ApplyURI("mongodb://" + p.Addr() + "/").
		SetServerSelectionTimeout(2 * time.Second).SetRetryWrites(false).SetRetryReads(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	db := c.Database("faultproxy_" + uuid.NewString()[:8])
	t.Cleanup(func() { _ = db.Drop(context.Background()) })
	return db.Collection("c")
}

// check reads a document directly from the server, past the proxy.
func exists(t *testing.T, col *mdb.Collection, id string) bool {
	t.Helper()
	c, err := mdb.Connect(options.Client().ApplyURI("mongodb://" + target(t) + "/"))
	require.NoError(t, err)
	defer func() { _ = c.Disconnect(context.Background()) }()
	err = c.Database(col.Database().Name()).Collection(col.Name()).FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Err()
	if errors.Is(err, mdb.ErrNoDocuments) {
		return false
	}
	require.NoError(t, err)
	return true
}

func TestPassesCommandsAndCountsThem(t *testing.T) {
	p := start(t, Config{Seed: 1})
	col := collection(t, p)
	ctx := t.Context()
	before := p.Stats().Commands
	_, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}})
	require.NoError(t, err)
	var doc bson.M
	require.NoError(t, col.FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}).Decode(&doc))
	require.Equal(t, int64(2), p.Stats().Commands-before, "an insert and a find, by their message headers")
	require.Zero(t, p.Stats().Faulted())
}

// A command dropped after it was sent was applied; one dropped before was
// not; the client gets a network error either way.
func TestDropsAConnectionAroundACommand(t *testing.T) {
	for _, tc := range []struct {
		weights [3]float64
		applied bool
	}{{[3]float64{1, 0, 0}, true}, {[3]float64{0, 1, 0}, false}} {
		p := start(t, Config{Seed: 2, Weights: tc.weights})
		col := collection(t, p)
		require.NoError(t, col.Database().Client().Ping(t.Context(), nil))
		p.SetRates(1, 0)
		id := uuid.NewString()
		_, err := col.InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}})
		require.Error(t, err)
		require.True(t, mdb.IsNetworkError(err), "a dropped connection is a network error: %v", err)
		p.SetRates(0, 0)
		require.Equal(t, tc.applied, exists(t, col, id), "applied when dropped after it was sent")
	}
}

// A delayed reply makes the client give up while the server applied the
// command.
func TestDelaysReplies(t *testing.T) {
	p := start(t, Config{Seed: 3, Weights: [3]float64{0, 0, 1}, MinDelay: time.Second, MaxDelay: time.Second})
	col := collection(t, p)
	require.NoError(t, col.Database().Client().Ping(t.Context(), nil))
	p.SetRates(1, 0)
	id := uuid.NewString()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := col.InsertOne(ctx, bson.D{{Key: "_id", Value: id}})
	require.True(t, mdb.IsTimeout(err), "the client timed out: %v", err)
	p.SetRates(0, 0)
	require.True(t, exists(t, col, id))
	require.Equal(t, int64(1), p.Stats().Delayed)
}

func TestRefusesConnections(t *testing.T) {
	p := start(t, Config{Seed: 4, RefuseRate: 1})
	c, err := mdb.Connect(options.Client().ApplyURI("mongodb://" + p.Addr() + "/").SetServerSelectionTimeout(300 * time.Millisecond))
	require.NoError(t, err)
	defer func() { _ = c.Disconnect(context.Background()) }()
	require.Error(t, c.Ping(t.Context(), nil), "no connection gets through")
	require.Positive(t, p.Stats().Refused)
}

// One seed, one sequence of faults: a failing run can be replayed.
func TestFaultsFollowTheSeed(t *testing.T) {
	sequence := func(seed uint64) []Fault {
		p := &Proxy{cfg: Config{Seed: seed, Rate: 0.3, MaxDelay: time.Second}, rng: newRNG(seed)}
		out := make([]Fault, 200)
		for i := range out {
			out[i], _ = p.pick()
		}
		return out
	}
	a, b, c := sequence(7), sequence(7), sequence(8)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
	faulted := 0
	for _, f := range a {
		if f != Pass {
			faulted++
		}
	}
	require.InDelta(t, 60, faulted, 25, "about the configured share")
}
