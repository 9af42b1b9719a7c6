package alignment

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A prepared version serves its first turn without a compile or an
// embedding of the policy; the next version is compiled on its own, never
// served by the one before.
func TestPreparedPolicyServesItsFirstTurnWithoutCompiling(t *testing.T) {
	emb := semanticEmbedder(semanticPolicy(1))
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Connecting you now.")), withEmbedder(emb))

	require.NoError(t, h.engine.Prepare(t.Context(), h.policy))
	require.Equal(t, int64(1), h.engine.Compiles())
	r := h.run(paraphrase)
	assert.Equal(t, []string{"human"}, matchedIDs(r.exp()))
	assert.Equal(t, int64(1), h.engine.Compiles(), "the turn found its policy compiled")
	assert.Equal(t, 1, emb.embedded("I want to talk to a human"), "and embedded")

	next := semanticPolicy(2)
	next.Rules = next.Rules[1:] // without the human rule
	h.policy = next
	r = h.run(paraphrase)
	assert.Equal(t, int64(2), h.engine.Compiles(), "a new version compiles")
	assert.NotContains(t, matchedIDs(r.exp()), "human", "and is what the turn was served")
}

// heldCompiles makes the engine's first compile wait until want callers
// have missed the compiled policy, so that all of them ask while it runs.
func heldCompiles(e *Engine, want int) {
	missed := make(chan struct{}, want)
	var first sync.Once
	e.hooks = compileHooks{
		missed:    func() { missed <- struct{}{} },
		compiling: func() { first.Do(func() { waitFor(missed, want) }) },
	}
}

func waitFor(ch <-chan struct{}, n int) {
	for range n {
		<-ch
	}
}

// Concurrent first turns of a version share one compile: all of them miss
// the compiled policy before the first compile ends, and one compiles.
func TestConcurrentFirstTurnsCompileOnce(t *testing.T) {
	const turns = 16
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Connecting you now.")))
	heldCompiles(h.engine, turns)
	var wg sync.WaitGroup
	errs := make([]error, turns)
	for i := range turns {
		wg.Go(func() {
			s := h.session.Clone()
			_, errs[i] = h.engine.RunTurn(context.Background(), ports.TurnInput{Policy: h.policy, Session: s, TurnNumber: 1,
				Message: "I want to talk to a human"}, func(string) error { return nil })
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), h.engine.Compiles())
}

// A turn that comes while Prepare compiles its version joins that compile.
func TestTurnJoinsTheCompileOfPrepare(t *testing.T) {
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Connecting you now.")))
	heldCompiles(h.engine, 2)
	prepared := make(chan error, 1)
	go func() { prepared <- h.engine.Prepare(context.Background(), h.policy) }()
	r := h.run("I want to talk to a human")
	require.NoError(t, <-prepared)
	assert.Equal(t, []string{"human"}, matchedIDs(r.exp()))
	assert.Equal(t, int64(1), h.engine.Compiles())
}

// A turn waits for a compile in flight only within its own deadline: it
// answers TIMEOUT while the compile it joined runs on, and that compile,
// once done, serves the next turn without another.
func TestTurnLeavesACompileAtItsDeadline(t *testing.T) {
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Connecting you now.")))
	missed, held, release := make(chan struct{}, 2), make(chan struct{}), make(chan struct{})
	h.engine.hooks = compileHooks{
		missed:    func() { missed <- struct{}{} },
		compiling: func() { close(held); <-release },
	}
	prepared := make(chan error, 1)
	go func() { prepared <- h.engine.Prepare(context.Background(), h.policy) }()
	<-held

	ctx, cancel := context.WithCancel(context.Background())
	turn := make(chan error, 1)
	go func() {
		_, err := h.engine.RunTurn(ctx, ports.TurnInput{Policy: h.policy, Session: h.session.Clone(), TurnNumber: 1,
			Message: "I want to talk to a human"}, func(string) error { return nil })
		turn <- err
	}()
	waitFor(missed, 2) // Prepare's and the turn's
	cancel()
	var err error
	select {
	case err = <-turn:
	case <-time.After(30 * time.Second): // a bound on failure, not an ordering
		t.Fatal("the turn still waits for the compile after its deadline")
	}
	require.Error(t, err)
	assert.Equal(t, domain.CodeTimeout, domain.ErrorCodeOf(err), "the turn left at its deadline: %v", err)

	close(release)
	require.NoError(t, <-prepared, "the compile went on")
	r := h.run("I want to talk to a human")
	assert.Equal(t, []string{"human"}, matchedIDs(r.exp()))
	assert.Equal(t, int64(1), h.engine.Compiles(), "the next turn found it compiled")
}

// compiledOf is the engine's compiled form of p, compiled already.
func compiledOf(t *testing.T, e *Engine, p *domain.Policy) *domain.CompiledPolicy {
	t.Helper()
	cp, ok := e.compiled.Get(compiledKeyOf(p, false))
	require.True(t, ok, "the version is compiled")
	return cp
}

// Prepare (a policy write's warm) compiles the version's step matchers
// too, tens of milliseconds each, which a step's first turn at the
// version would otherwise spend while its customer waits; a turn's compile
// leaves each to the step's first turn.
func TestPrepareCompilesTheStepsMatchers(t *testing.T) {
	turned := newHarness(t, orderPolicy(), newFakeModel(say("Hi.")))
	turned.run("hello")
	cp := compiledOf(t, turned.engine, turned.policy)
	require.Positive(t, cp.StepMatchers())
	assert.Zero(t, cp.StepsCompiled(), "a turn outside the scenario compiled no step")

	prepared := newHarness(t, orderPolicy(), newFakeModel(say("Hi.")))
	require.NoError(t, prepared.engine.Prepare(t.Context(), prepared.policy))
	cp = compiledOf(t, prepared.engine, prepared.policy)
	assert.Equal(t, cp.StepMatchers(), cp.StepsCompiled())
}
