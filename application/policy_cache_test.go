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

// heldReads is a policy store whose next GetPolicy waits: it says when it
// has read, then waits for release before answering with what it read.
type heldReads struct {
	*memory.Store
	held          atomic.Bool
	read, release chan struct{}
}

func (s *heldReads) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	p, err := s.Store.GetPolicy(ctx, tenantID, agentID)
	if s.held.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return p, err
}

// A Get that begins after a write this instance made (and forgot) reads
// the write, even while a load begun before it is still on its way: it
// does not join that load and get the old policy from it.
func TestGetAfterAWriteDoesNotJoinALoadBegunBeforeIt(t *testing.T) {
	ctx := context.Background()
	store := &heldReads{Store: memory.New(clock.System{}), read: make(chan struct{}), release: make(chan struct{})}
	store.held.Store(true)
	agent := domain.Agent{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Name: "a", Enabled: true}
	policyOf := func(version int64, text string) *domain.Policy {
		a := agent
		a.Version = version
		return &domain.Policy{Agent: a, Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: text}}}
	}
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(0, "Hello.")))
	cache, err := application.NewPolicyCache(store, clock.System{}, time.Minute)
	require.NoError(t, err)

	before := make(chan *domain.Policy)
	go func() {
		p, err := cache.Get(ctx, tenant, agent.ID)
		assert.NoError(t, err)
		before <- p
	}()
	<-store.read // the first load has read version 1 and waits
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(2, "Welcome.")))
	cache.Forget(tenant, agent.ID)

	// Its read does not wait: were it to join the held load, it would wait
	// for that load's release and then get version 1.
	afterCh := make(chan *domain.Policy, 1)
	go func() {
		p, err := cache.Get(ctx, tenant, agent.ID)
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
	again, err := cache.Get(ctx, tenant, agent.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), again.Agent.Version, "and the old load did not put version 1 back")
}
