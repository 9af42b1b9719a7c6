package application_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
)

const warmAgent = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

// warmBundle is a small agent whose rules the matcher has to compile.
func warmBundle(action string) []byte {
	return []byte(`agent: {id: ` + warmAgent + `, name: shop}
rules:
  - id: returns
    condition: the customer wants to return an item
    action: ` + action + `
    examples: [I want to return my jacket, how do I send this back]
  - id: hours
    condition: the customer asks when the shop opens
    action: give the opening hours
    examples: [what time do you open, are you open on sunday]
templates:
  - {id: f, mode: fallback, text: Hello.}
`)
}

// instance is what one Focal instance holds for policies and turns.
type instance struct {
	admin  *application.PolicyAdmin
	warmer *application.PolicyWarmer
	engine *alignment.Engine
	chat   *application.ProcessMessage
}

func newInstance(t *testing.T, store *memory.Store) *instance {
	t.Helper()
	clk := clock.System{}
	cache, err := application.NewPolicyCache(store, clk, time.Minute)
	require.NoError(t, err)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clk})
	require.NoError(t, err)
	warmer, err := application.NewPolicyWarmer(t.Context(), cache, engine)
	require.NoError(t, err)
	admin, err := application.NewPolicyAdmin(store, cache, clk)
	require.NoError(t, err)
	chat, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store, engine, clk)
	require.NoError(t, err)
	return &instance{admin: admin.WithWarmer(warmer), warmer: warmer, engine: engine, chat: chat}
}

// firstTurnCompiles waits for the warms the last write started, then runs
// a turn and reports how many compiles the turn itself ran.
func (in *instance) firstTurnCompiles(t *testing.T) int64 {
	t.Helper()
	require.NoError(t, in.warmer.Wait(t.Context()))
	before := in.engine.Compiles()
	_, err := in.chat.Chat(t.Context(), application.ChatCommand{TenantID: tenant, AgentID: warmAgent,
		Channel: "web", UserChannelID: "u", Message: "I want to return my jacket"})
	require.NoError(t, err)
	return in.engine.Compiles() - before
}

// Every write of a policy on an instance leaves the new version compiled
// before its first turn: the turn finds it in the engine and compiles
// nothing. An instance that starts with an unchanged start-up bundle
// compiles it before its first turn too.
func TestPublishedPolicyIsCompiledBeforeItsFirstTurn(t *testing.T) {
	store := memory.New(clock.System{})
	in := newInstance(t, store)

	_, err := in.admin.ImportBundle(t.Context(), application.BundleImport{TenantID: tenant, Bundle: warmBundle("take the return")})
	require.NoError(t, err)
	assert.Zero(t, in.firstTurnCompiles(t), "created by an import")

	_, err = in.admin.UpdateAgent(t.Context(), tenant, warmAgent, 0, domain.Agent{Name: "renamed", Enabled: true})
	require.NoError(t, err)
	assert.Zero(t, in.firstTurnCompiles(t), "edited")

	_, err = in.admin.ImportBundle(t.Context(), application.BundleImport{TenantID: tenant, AgentID: warmAgent,
		Bundle: warmBundle("explain the return policy")})
	require.NoError(t, err)
	assert.Zero(t, in.firstTurnCompiles(t), "replaced by an import")
	assert.Equal(t, int64(3), in.engine.Compiles(), "each version compiled once")

	restarted := newInstance(t, store)
	out, err := restarted.admin.ImportBundle(t.Context(), application.BundleImport{TenantID: tenant, AgentID: warmAgent,
		Bundle: warmBundle("explain the return policy"), SkipUnchanged: true})
	require.NoError(t, err)
	require.True(t, out.Unchanged)
	assert.Zero(t, restarted.firstTurnCompiles(t), "imported unchanged at start-up")
}

// heldPreparer records the versions it prepares and holds the first until
// released.
type heldPreparer struct {
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	versions         []int64
}

func (p *heldPreparer) Prepare(_ context.Context, pol *domain.Policy) error {
	p.mu.Lock()
	p.versions = append(p.versions, pol.Agent.Version)
	p.mu.Unlock()
	p.once.Do(func() {
		close(p.entered)
		<-p.release
	})
	return nil
}

// Writes that land while an agent's policy is compiling do not each start
// a compile: once it ends, only the newest version is compiled.
func TestWritesDuringAWarmCompileOnlyTheNewestVersion(t *testing.T) {
	store := memory.New(clock.System{})
	cache, err := application.NewPolicyCache(store, clock.System{}, time.Minute)
	require.NoError(t, err)
	prep := &heldPreparer{entered: make(chan struct{}), release: make(chan struct{})}
	warmer, err := application.NewPolicyWarmer(t.Context(), cache, prep)
	require.NoError(t, err)
	admin, err := application.NewPolicyAdmin(store, cache, clock.System{})
	require.NoError(t, err)
	admin.WithWarmer(warmer)

	_, err = admin.CreateAgent(t.Context(), tenant, domain.Agent{ID: warmAgent, Name: "a", Enabled: true})
	require.NoError(t, err)
	<-prep.entered // preparing version 1
	for _, name := range []string{"b", "c", "d"} {
		_, err = admin.UpdateAgent(t.Context(), tenant, warmAgent, 0, domain.Agent{Name: name, Enabled: true})
		require.NoError(t, err)
	}
	close(prep.release)
	require.NoError(t, warmer.Wait(t.Context()))
	assert.Equal(t, []int64{1, 4}, prep.versions)
}

// endlessReads is a store whose policy reads go on when their context
// ends, as a read already sent may.
type endlessReads struct{ *memory.Store }

func (s endlessReads) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	return s.Store.GetPolicy(context.WithoutCancel(ctx), tenantID, agentID)
}

// A stopped warmer starts nothing: writes during shutdown leave their
// compile to the next instance's turns.
func TestStoppedWarmerPreparesNothing(t *testing.T) {
	store := memory.New(clock.System{})
	cache, err := application.NewPolicyCache(endlessReads{store}, clock.System{}, time.Minute)
	require.NoError(t, err)
	prep := &heldPreparer{entered: make(chan struct{}), release: make(chan struct{})}
	close(prep.release) // nothing to hold
	ctx, stop := context.WithCancel(t.Context())
	warmer, err := application.NewPolicyWarmer(ctx, cache, prep)
	require.NoError(t, err)
	admin, err := application.NewPolicyAdmin(store, cache, clock.System{})
	require.NoError(t, err)
	admin.WithWarmer(warmer)

	stop()
	_, err = admin.CreateAgent(t.Context(), tenant, domain.Agent{ID: warmAgent, Name: "a", Enabled: true})
	require.NoError(t, err)
	require.NoError(t, warmer.Wait(t.Context()))
	assert.Empty(t, prep.versions)
}

// An instance learns of a version written on another one from a turn,
// whose version check loads it: the warmer then prepares that version
// (compiles its steps' matchers, see TestPrepareCompilesTheStepsMatchers)
// in the background, once. A turn the cache serves warms nothing, and
// neither does the warmer's own reading.
func TestVersionsTurnsLoadAreWarmed(t *testing.T) {
	ctx := t.Context()
	store := memory.New(clock.System{})
	policyOf := func(version int64) *domain.Policy {
		return &domain.Policy{Agent: domain.Agent{ID: warmAgent, Name: "a", Enabled: true, Version: version},
			Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}
	}
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(1))) // written by another instance
	cacheClock := clock.NewFake()
	cache, err := application.NewPolicyCache(store, cacheClock, time.Minute)
	require.NoError(t, err)
	prep := &heldPreparer{entered: make(chan struct{}), release: make(chan struct{})}
	close(prep.release) // nothing to hold
	warmer, err := application.NewPolicyWarmer(ctx, cache, prep)
	require.NoError(t, err)
	cache.WithWarmer(warmer)
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clock.System{}})
	require.NoError(t, err)
	chat, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store, engine, clock.System{})
	require.NoError(t, err)
	turnThenWarms := func() []int64 {
		t.Helper()
		_, err := chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: warmAgent, Channel: "web", UserChannelID: "u", Message: "hi"})
		require.NoError(t, err)
		require.NoError(t, warmer.Wait(ctx))
		return prep.versions
	}

	assert.Equal(t, []int64{1}, turnThenWarms(), "the instance's first turn loaded version 1")
	assert.Equal(t, []int64{1}, turnThenWarms(), "served from the cache")
	require.NoError(t, store.SavePolicy(ctx, tenant, policyOf(2)))
	assert.Equal(t, []int64{1}, turnThenWarms(), "not checked again within the refresh interval")
	cacheClock.Advance(time.Minute)
	assert.Equal(t, []int64{1, 2}, turnThenWarms(), "the version check found version 2")
}

// The warmer reads the policy it prepares through the cache: a version
// that reading loads is prepared once, by that warm, not warmed again as
// a turn's load would be.
func TestWarmersOwnLoadIsNotWarmedAgain(t *testing.T) {
	ctx := t.Context()
	store := memory.New(clock.System{})
	require.NoError(t, store.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: warmAgent, Name: "a", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}))
	cache, err := application.NewPolicyCache(store, clock.NewFake(), time.Minute)
	require.NoError(t, err)
	prep := &heldPreparer{entered: make(chan struct{}), release: make(chan struct{})}
	close(prep.release) // nothing to hold
	warmer, err := application.NewPolicyWarmer(ctx, cache, prep)
	require.NoError(t, err)
	cache.WithWarmer(warmer)

	warmer.Warm(tenant, warmAgent) // the cache holds nothing: the warm's read loads version 1
	require.NoError(t, warmer.Wait(ctx))
	assert.Equal(t, []int64{1}, prep.versions, "prepared once")
}
