package application_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/application"
	"focal/domain"
)

// heldReads is a policy store whose first GetPolicy waits: it says when
// it has read, then waits for release (or its context's end) before
// answering with what it read. It counts reads.
type heldReads struct {
	*memory.Store
	held          atomic.Bool
	reads         atomic.Int32
	read, release chan struct{}
}

func (s *heldReads) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	s.reads.Add(1)
	p, err := s.Store.GetPolicy(ctx, tenantID, agentID)
	if s.held.CompareAndSwap(true, false) {
		close(s.read)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return p, err
}

var cachedAgent = domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true}

func cachedPolicy(version int64, text string) *domain.Policy {
	a := cachedAgent
	a.Version = version
	return &domain.Policy{Agent: a, Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: text}}}
}

// newHeldCache is a cache over a held store holding cachedAgent's version 1.
func newHeldCache(t *testing.T) (*heldReads, *application.PolicyCache) {
	t.Helper()
	store := &heldReads{Store: memory.New(clock.System{}), read: make(chan struct{}), release: make(chan struct{})}
	store.held.Store(true)
	require.NoError(t, store.SavePolicy(context.Background(), tenant, cachedPolicy(0, "Hello.")))
	cache, err := application.NewPolicyCache(store, clock.System{}, time.Minute)
	require.NoError(t, err)
	return store, cache
}

// A Get that begins after a write this instance made (and forgot) reads
// the write, even while a load begun before it is still on its way: it
// does not join that load and get the old policy from it.
func TestGetAfterAWriteDoesNotJoinALoadBegunBeforeIt(t *testing.T) {
	ctx := context.Background()
	store, cache := newHeldCache(t)

	before := make(chan *domain.Policy)
	go func() {
		p, err := cache.Get(ctx, tenant, cachedAgent.ID)
		assert.NoError(t, err)
		before <- p
	}()
	<-store.read // the first load has read version 1 and waits
	require.NoError(t, store.SavePolicy(ctx, tenant, cachedPolicy(2, "Welcome.")))
	cache.Forget(tenant, cachedAgent.ID)

	// Its read does not wait: were it to join the held load, it would wait
	// for that load's release and then get version 1.
	afterCh := make(chan *domain.Policy, 1)
	go func() {
		p, err := cache.Get(ctx, tenant, cachedAgent.ID)
		assert.NoError(t, err)
		afterCh <- p
	}()
	var after *domain.Policy
	select {
	case after = <-afterCh:
	case <-time.After(10 * time.Second):
		t.Fatal("a Get begun after the write waited for the load begun before it")
	}
	close(store.release)
	assert.Equal(t, int64(1), (<-before).Agent.Version, "the load begun before the write")
	assert.Equal(t, int64(2), after.Agent.Version, "a Get begun after the write reads it")
	again, err := cache.Get(ctx, tenant, cachedAgent.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), again.Agent.Version, "and the old load did not put version 1 back")
}

// A load serves every Get that joins it: the Get that began it going away
// (its client hung up) ends that Get's wait, not the load, which still
// fills the cache for the next.
func TestALoadOutlivesTheGetThatBeganIt(t *testing.T) {
	store, cache := newHeldCache(t)
	ctx, hangUp := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := cache.Get(ctx, tenant, cachedAgent.ID)
		first <- err
	}()
	<-store.read
	hangUp()
	require.Equal(t, domain.CodeTimeout, domain.ErrorCodeOf(<-first), "the Get that hung up stops waiting")
	close(store.release)

	p, err := cache.Get(context.Background(), tenant, cachedAgent.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), p.Agent.Version)
	assert.Equal(t, int32(1), store.reads.Load(), "the next Get was served by the load, not a read of its own")
}
