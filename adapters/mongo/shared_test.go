package mongo

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"focal/domain"
	"focal/ports"
)

// awaitWindowRoom starts a test early enough in a window of w.
func awaitWindowRoom(w, room time.Duration) {
	now := time.Now()
	if end := now.Truncate(w).Add(w); end.Sub(now) < room {
		time.Sleep(end.Sub(now) + 10*time.Millisecond)
	}
}

func TestRateLimitSharedAcrossInstances(t *testing.T) {
	a := testDB(t)
	instances := []*RateLimits{NewRateLimits(a), NewRateLimits(sibling(t, a)), NewRateLimits(sibling(t, a))}
	ctx := t.Context()
	const limit, perInstance, window = 25, 20, time.Hour
	awaitWindowRoom(window, 5*time.Second)
	key := "tenant:" + uuid.NewString()

	var mu sync.Mutex
	remaining := map[int]bool{}
	allowed := 0
	var wg sync.WaitGroup
	for _, s := range instances {
		for range perInstance {
			wg.Go(func() {
				d, err := s.TakeRate(ctx, key, limit, window)
				require.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				if d.Allowed {
					allowed++
					require.False(t, remaining[d.Remaining], "two requests were given remaining %d", d.Remaining)
					remaining[d.Remaining] = true
				}
			})
		}
	}
	wg.Wait()
	require.Equal(t, limit, allowed, "exactly limit allowed across %d instances", len(instances))
	for _, s := range instances {
		d, err := s.TakeRate(ctx, key, limit, window)
		require.NoError(t, err)
		require.False(t, d.Allowed, "every instance sees the window full")
	}

	// A cold instance finds its place in a window others are using.
	other := "tenant:" + uuid.NewString()
	for i := range 7 {
		d, err := instances[0].TakeRate(ctx, other, limit, window)
		require.NoError(t, err)
		require.Equal(t, limit-1-i, d.Remaining)
	}
	d, err := instances[1].TakeRate(ctx, other, limit, window)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.Equal(t, limit-8, d.Remaining, "the cold instance counts on from the others' requests")
}

func TestIdempotencySharedAcrossInstances(t *testing.T) {
	a := NewIdempotencyKeys(testDB(t))
	b := NewIdempotencyKeys(sibling(t, a.db))
	ctx := t.Context()
	tenant, key := uuid.NewString(), "k-"+uuid.NewString()
	rec := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f", Owner: "o1", ExpiresAt: time.Now().Add(time.Minute)}
	_, claimed, err := a.ClaimIdempotencyKey(ctx, rec)
	require.NoError(t, err)
	require.True(t, claimed)
	rec.Owner = "o2"
	cur, claimed, err := b.ClaimIdempotencyKey(ctx, rec)
	require.NoError(t, err)
	require.False(t, claimed, "the other instance sees the claim")
	require.Equal(t, "o1", cur.Owner)
	require.NoError(t, a.CompleteIdempotencyKey(ctx, tenant, key, "o1", 200, map[string]string{"A": "b"}, []byte("x"), time.Now().Add(time.Hour)))
	got, err := b.GetIdempotencyKey(ctx, tenant, key)
	require.NoError(t, err)
	require.True(t, got.Done)
	require.Equal(t, []byte("x"), got.Body)
}

// A claimer that won the right to replace an expired record and died
// before deleting it holds the key up for takeoverTTL at most, where
// replacing takes a marker; where one conditional write replaces it, no
// marker stands in the way.
func TestIdempotencyTakeoverAbandoned(t *testing.T) {
	k := NewIdempotencyKeys(testDB(t))
	ctx := t.Context()
	tenant, key := uuid.NewString(), "k-"+uuid.NewString()
	old := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f", Owner: "dead", ExpiresAt: time.Now().Add(100 * time.Millisecond)}
	_, claimed, err := k.ClaimIdempotencyKey(ctx, old)
	require.NoError(t, err)
	require.True(t, claimed)
	time.Sleep(150 * time.Millisecond)
	stored, err := k.find(ctx, idemID(tenant, key))
	require.NoError(t, err)
	// The crashed claimer's marker, round 0, held for 400ms more.
	base, until := takeoverBase(stored), time.Now().Add(400*time.Millisecond)
	_, err = k.db.idemTakeovers.InsertOne(ctx, takeoverDoc{ID: base + "/0", KeyID: stored.ID, UntilNS: until.UnixNano(), ExpiresAt: until})
	require.NoError(t, err)

	next := old
	next.Owner, next.ExpiresAt = "alive", time.Now().Add(time.Minute)
	cur, claimed, err := k.ClaimIdempotencyKey(ctx, next)
	require.NoError(t, err)
	require.True(t, claimed, "the key is claimed")
	require.Equal(t, "alive", cur.Owner)
	if !k.db.caps.atomicUpdates {
		require.False(t, time.Now().Before(until), "not before the abandoned takeover ran out")
	}
	got, err := k.GetIdempotencyKey(ctx, tenant, key)
	require.NoError(t, err)
	require.Equal(t, "alive", got.Owner)
}

func TestDeleteAgentLeavesOneMarker(t *testing.T) {
	p := NewPolicies(testDB(t))
	ctx := t.Context()
	tenant, agent := uuid.NewString(), uuid.NewString()
	for v := int64(1); v <= 3; v++ {
		require.NoError(t, p.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a", Version: v}}))
	}
	require.NoError(t, p.DeleteAgent(ctx, tenant, agent))
	var docs []policyDoc
	cur, err := p.db.policies.Find(ctx, agentFilter(tenant, agent))
	require.NoError(t, err)
	require.NoError(t, cur.All(ctx, &docs))
	require.Len(t, docs, 1, "older versions are pruned; the marker stays")
	require.True(t, docs[0].Deleted)
	require.EqualValues(t, 4, docs[0].Version)
	require.Empty(t, docs[0].Policy)
}

// A claim renewed while another instance is taking it over stays its
// owner's: the takeover's write admits only a lapsed hold, whatever the
// taker read a moment before (FerretDB: after its takeover marker).
func TestClaimRenewedDuringATakeoverStaysItsOwners(t *testing.T) {
	owner := NewIdempotencyKeys(testDB(t))
	if owner.db.caps.atomicUpdates {
		return // one conditional update takes the claim over: nothing comes between a read and the write
	}
	var renew atomic.Pointer[func()]
	ahead := &offsetClock{offset: time.Minute} // sees the owner's hold lapsed
	taker := NewIdempotencyKeys(openDB(t, owner.db.cfg, ahead, WithCommandObserver(func(e CommandEvent) {
		if e.Name == "find" {
			if fn := renew.Swap(nil); fn != nil {
				(*fn)() // right after the taker read the claim
			}
		}
	})))
	ctx := t.Context()
	tenant, key := uuid.NewString(), "k-"+uuid.NewString()
	rec := ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f", Owner: "o1",
		HeldUntil: time.Now().Add(30 * time.Second), ExpiresAt: time.Now().Add(time.Hour)}
	_, claimed, err := owner.ClaimIdempotencyKey(ctx, rec)
	require.NoError(t, err)
	require.True(t, claimed)

	renewed := make(chan error, 1)
	fn := func() { renewed <- owner.RenewIdempotencyClaim(ctx, tenant, key, "o1", time.Now().Add(30*time.Minute)) }
	renew.Store(&fn)
	next := rec
	next.Owner, next.HeldUntil = "o2", time.Now().Add(2*time.Minute)
	cur, took, err := taker.TakeOverIdempotencyKey(ctx, next, "o1")
	require.NoError(t, err)
	require.NoError(t, receive(t, renewed, 5*time.Second, "the owner's renewal"))
	require.False(t, took, "a renewed hold is taken over")
	require.Equal(t, "o1", cur.Owner)
	got, err := owner.GetIdempotencyKey(ctx, tenant, key)
	require.NoError(t, err)
	require.Equal(t, "o1", got.Owner)
}

// A deleted agent's history goes with it: no archived version stays.
func TestDeleteAgentDropsItsHistory(t *testing.T) {
	p := NewPolicies(testDB(t))
	ctx := t.Context()
	tenant, agent := uuid.NewString(), uuid.NewString()
	for v := int64(1); v <= 3; v++ {
		require.NoError(t, p.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "a", Version: v}}))
	}
	n, err := p.db.policyVersions.CountDocuments(ctx, agentFilter(tenant, agent))
	require.NoError(t, err)
	require.EqualValues(t, 2, n, "the older versions are archived")
	require.NoError(t, p.DeleteAgent(ctx, tenant, agent))
	n, err = p.db.policyVersions.CountDocuments(ctx, agentFilter(tenant, agent))
	require.NoError(t, err)
	require.Zero(t, n, "the deleted agent's history is gone")
}

// An older version a failed prune left in place is not listed: each agent
// once, at its newest version.
func TestListAgentsSkipsVersionsLeftByAFailedPrune(t *testing.T) {
	p := NewPolicies(testDB(t))
	ctx := t.Context()
	tenant, agent := uuid.NewString(), uuid.NewString()
	require.NoError(t, p.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "new", Version: 1}}))
	require.NoError(t, p.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: agent, Name: "new", Version: 2}}))
	_, err := p.db.policies.InsertOne(ctx, policyDoc{ID: bson.NewObjectID(), TenantID: tenant, AgentID: agent, Version: 1,
		Agent: `{"id":"` + agent + `","name":"old","version":1}`, Policy: "{}", SavedAt: time.Now()}) // the prune did not run
	require.NoError(t, err)

	page, err := p.ListAgents(ctx, tenant, ports.PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "the agent once")
	require.EqualValues(t, 2, page.Items[0].Version)
	require.Equal(t, "new", page.Items[0].Name)
}
