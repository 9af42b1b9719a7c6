// Package alignment implements ports.Engine: the per-turn pipeline of
// condition matching, scenario navigation, rule selection, tools,
// generation and enforcement, over the pure logic in domain and the model,
// embedder and tool ports.
package alignment

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"focal/application/bounded"
	"focal/application/extraction"
	"focal/domain"
	"focal/ports"
)

// Engine runs turns. Build it with New; it is safe for concurrent use.
type Engine struct {
	model ports.ChatModel
	// offline: the model never generates (ports.OfflineModel), so no
	// prompt is built for it.
	offline  bool
	history  ports.TurnStore
	clock    ports.Clock
	embedder ports.Embedder    // optional: the matcher reads words only without it
	tools    ports.ToolInvoker // optional: tool calls fail without it
	compiled *bounded.Cache[compiledKey, *domain.CompiledPolicy]
	compile  singleflight.Group
	// compiling holds a slot per policy compile in progress: a compile
	// trains the policy's matcher, and many tenants' first turns at once
	// must not all train at once.
	compiling chan struct{}
	// compiles counts the compiles run (Compiles).
	compiles atomic.Int64
	// hooks are the tests' views into the compile; zero in production.
	hooks   compileHooks
	vectors *vectorCache
	exprs   *expressions
	// extractor reads the variables a step collects with one model call
	// when the deterministic extractors leave some missing.
	extractor *extraction.Extractor
	// deferExplanations: see Deps.
	deferExplanations bool
	// machineClock: clock is the machine's (ports.MachineClock), on which
	// a turn's steps are timed more cheaply (stepTimer).
	machineClock bool
	// passed spares a policy's own text, checked clean, the same check
	// on the next turn.
	passed passedTexts
}

// Deps are the engine's collaborators. Model, History and Clock are
// required; Embedder and Tools are optional. Limits are the policy limits
// policies were validated with (zero: the defaults).
type Deps struct {
	Model    ports.ChatModel
	History  ports.TurnStore
	Clock    ports.Clock
	Embedder ports.Embedder
	Tools    ports.ToolInvoker
	Limits   domain.PolicyLimits
	// DeferExplanations leaves out of a words-only turn's explanation
	// what its record's reader completes (RecordExplainer): set when
	// every reader of the records does.
	DeferExplanations bool
}

var _ ports.Engine = (*Engine)(nil)

// Bounds of the compiled policies kept: how many versions, and how much
// memory they may take together, estimated as compiledPerTextByte bytes
// per byte of policy text (the matcher's weights and vocabulary measured
// 20 to 40 times the text on Banking77 and the benchmark agents). A version
// that falls out is compiled again on its next turn.
const (
	compiledCacheSize   = 512
	compiledCacheBytes  = 512 << 20
	compiledPerTextByte = 40
	// compileSlots is how many policies compile at once.
	compileSlots = 2
)

// New returns an engine over d.
func New(d Deps) (*Engine, error) {
	if d.Model == nil || d.History == nil || d.Clock == nil {
		return nil, fmt.Errorf("alignment: model, history and clock are required")
	}
	cache, err := bounded.New[compiledKey, *domain.CompiledPolicy](compiledCacheSize, compiledCacheBytes,
		func(cp *domain.CompiledPolicy) int64 { return compiledPerTextByte * int64(cp.Policy.TextBytes()) })
	if err != nil {
		return nil, err
	}
	vectors, err := newVectorCache()
	if err != nil {
		return nil, err
	}
	if d.Limits == (domain.PolicyLimits{}) {
		d.Limits = domain.DefaultPolicyLimits()
	}
	exprs, err := newExpressions(d.Limits)
	if err != nil {
		return nil, err
	}
	extractor, err := extraction.New(d.Model)
	if err != nil {
		return nil, err
	}
	return &Engine{model: d.Model, offline: ports.IsOffline(d.Model), history: d.History, clock: d.Clock, embedder: d.Embedder, tools: d.Tools,
		compiled: cache, compiling: make(chan struct{}, compileSlots), vectors: vectors, exprs: exprs, extractor: extractor,
		deferExplanations: d.DeferExplanations, machineClock: ports.IsMachineClock(d.Clock)}, nil
}

// policyKey names one version of one agent's policy.
func policyKey(p *domain.Policy) string {
	return p.Agent.TenantID + "/" + p.Agent.ID + "/" + strconv.FormatInt(p.Agent.Version, 10)
}

// compiledKey names a compiled form of a policy version: with the
// embeddings of its examples or without. A struct, not policyKey's text,
// so that finding the compiled policy of a turn allocates nothing.
type compiledKey struct {
	tenantID, agentID string
	version           int64
	semantic          bool
}

func compiledKeyOf(p *domain.Policy, withVectors bool) compiledKey {
	return compiledKey{tenantID: p.Agent.TenantID, agentID: p.Agent.ID, version: p.Agent.Version, semantic: withVectors}
}

// flightKey is k as the text compiles of the same version share.
func (k compiledKey) flightKey() string {
	key := k.tenantID + "/" + k.agentID + "/" + strconv.FormatInt(k.version, 10)
	if k.semantic {
		key += "/semantic"
	}
	return key
}

// compileHooks let a test see a turn miss the compiled policy and hold a
// compile until it has seen what it waits for.
type compileHooks struct {
	missed    func() // after a turn found no compiled form, before it joins or starts a compile
	compiling func() // in the one caller that compiles, before it does
}

// Prepare readies p's version for its turns the way its first turn would:
// it embeds the policy's examples (when an embedder is configured) and
// compiles it, then its steps' matchers (which a step's first turn at the
// version would compile), so that the turns find all of it done. A turn that comes while
// Prepare is still compiling joins that compile instead of starting its
// own. Policy writes call it (application.PolicyWarmer) so that the first
// turn after publishing a large policy does not stall for its compile.
// TIMEOUT when ctx ends first; INTERNAL_ERROR when p cannot be compiled.
func (e *Engine) Prepare(ctx context.Context, p *domain.Policy) error {
	lp, err := e.loadPolicy(ctx, p)
	if err != nil {
		return err
	}
	lp.cp.CompileSteps(func() bool { return ctx.Err() != nil })
	return nil
}

// Compiles is how many policy compiles the engine has run: a turn that
// found its policy compiled, or joined a compile in flight, added none.
func (e *Engine) Compiles() int64 { return e.compiles.Load() }

// takeCompileSlot waits, within ctx, for one of the engine's compile
// slots, which bound the compiles running at once (turns', warms' and
// record readers'); the caller calls release when its compile ends.
func (e *Engine) takeCompileSlot(ctx context.Context) (release func(), err error) {
	select {
	case e.compiling <- struct{}{}:
		return func() { <-e.compiling }, nil
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "agent policy could not be compiled in time")
	}
}

// compiledPolicy returns the compiled form of p (with vectors, the
// embeddings of its example texts, when not nil), compiling each version
// once even when many turns, and Prepare, ask for it at the same moment:
// every caller after the first joins the first one's compile. Each waits
// only within its own ctx: a turn whose deadline ends meanwhile answers
// TIMEOUT, and the compile it started or joined goes on, waiting for a
// compile slot if it must, to serve the turns after it.
func (e *Engine) compiledPolicy(ctx context.Context, p *domain.Policy, vectors [][]float32) (*domain.CompiledPolicy, error) {
	key := compiledKeyOf(p, vectors != nil)
	if cp, ok := e.compiled.Get(key); ok {
		return cp, nil
	}
	if e.hooks.missed != nil {
		e.hooks.missed()
	}
	flight := e.compile.DoChan(key.flightKey(), func() (any, error) { return e.compileOnce(key, p, vectors) })
	select {
	case r := <-flight:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*domain.CompiledPolicy), nil
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "agent policy could not be compiled in time")
	}
}

// compileOnce compiles p into the cache unless a compile that finished
// since the caller looked has. It runs on a goroutine of its own (the
// flight's), which no caller's deadline ends, so a panic in the compiler
// becomes an error here rather than the end of the process.
func (e *Engine) compileOnce(key compiledKey, p *domain.Policy, vectors [][]float32) (_ any, err error) {
	if cp, ok := e.compiled.Get(key); ok {
		return cp, nil
	}
	release, _ := e.takeCompileSlot(context.Background()) // never fails without a deadline
	defer release()
	defer func() {
		if r := recover(); r != nil {
			err = domain.Errorf(domain.CodeInternal, "agent policy cannot be compiled: %v", r)
		}
	}()
	if e.hooks.compiling != nil {
		e.hooks.compiling()
	}
	e.compiles.Add(1)
	cp, err := domain.CompilePolicyWithVectors(p, vectors)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "agent policy cannot be compiled")
	}
	e.compiled.Add(key, cp)
	return cp, nil
}
