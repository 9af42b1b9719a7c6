package application

import (
	"context"
	"errors"
	"sync"

	"focal/domain"
	"focal/ports"
)

// PolicyPreparer readies a policy version for its turns before the first
// of them comes (the alignment engine's Prepare): a turn that comes while
// it works waits for that work instead of doing it again. It is safe for
// concurrent use. TIMEOUT when ctx ends first, INTERNAL_ERROR otherwise.
type PolicyPreparer interface {
	Prepare(ctx context.Context, p *domain.Policy) error
}

// PolicyWarmer compiles an agent's new policy in the background as soon as
// a write on this instance stored it, so that the first turn after an
// admin publishes finds it compiled (a 10,000-rule policy takes seconds to
// compile), or joins the compile in flight rather than starting its own.
//
// In the background rather than before the write answers: a script that
// edits rules one at a time would otherwise wait a full compile per edit,
// and would make the instance compile every intermediate version. Here an
// agent has at most one warm in flight; writes that land meanwhile make it
// read the policy once more when it ends, so only the newest version is
// compiled again. Which version a turn is served stays the policy cache's
// business: a warm compiles what the cache serves, and compiled policies
// are kept per version, so a warm can make a turn faster, never older.
// A warm that fails (the agent deleted meanwhile, the engine's error)
// leaves the compile to the first turn, which reports it.
type PolicyWarmer struct {
	cache  *PolicyCache
	engine PolicyPreparer
	// ctx bounds every warm; its end makes those waiting for a compile
	// slot give up.
	ctx context.Context
	mu  sync.Mutex
	// warming holds the agents with a warm in flight: true when written
	// again since it read their policy.
	warming map[agentKey]bool
	// idle is closed while warming is empty.
	idle chan struct{}
}

// NewPolicyWarmer returns a warmer that reads policies through cache and
// prepares them with engine, until ctx ends.
func NewPolicyWarmer(ctx context.Context, cache *PolicyCache, engine PolicyPreparer) (*PolicyWarmer, error) {
	if ctx == nil || cache == nil || engine == nil {
		return nil, errors.New("policy warmer: context, cache and engine are required")
	}
	idle := make(chan struct{})
	close(idle)
	return &PolicyWarmer{cache: cache, engine: engine, ctx: ctx, warming: map[agentKey]bool{}, idle: idle}, nil
}

// Warm prepares the agent's current policy in the background. It returns
// at once; once the warmer's context ended it does nothing.
func (w *PolicyWarmer) Warm(tenantID, agentID string) {
	key := agentKey{tenantID, agentID}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	if _, busy := w.warming[key]; busy {
		w.warming[key] = true
		return
	}
	if len(w.warming) == 0 {
		w.idle = make(chan struct{})
	}
	w.warming[key] = false
	go w.warm(key)
}

// warm prepares the agent's policy until no write came while it did.
func (w *PolicyWarmer) warm(key agentKey) {
	for {
		w.prepare(key)
		w.mu.Lock()
		if w.warming[key] && w.ctx.Err() == nil {
			w.warming[key] = false
			w.mu.Unlock()
			continue
		}
		delete(w.warming, key)
		if len(w.warming) == 0 {
			close(w.idle)
		}
		w.mu.Unlock()
		return
	}
}

// prepare reads the agent's policy as its turns will and prepares it. A
// disabled agent has no turns to prepare for.
func (w *PolicyWarmer) prepare(key agentKey) {
	ctx := ports.WithTenant(w.ctx, key.tenantID)
	p, err := w.cache.Get(ctx, key.tenantID, key.agentID)
	if err != nil || !p.Agent.Enabled {
		return
	}
	_ = w.engine.Prepare(ctx, p) // the first turn compiles again and reports it
}

// Wait returns once no warm is in flight, or ctx's error when ctx ends
// first. Stopping is ending the warmer's context, then Wait.
func (w *PolicyWarmer) Wait(ctx context.Context) error {
	w.mu.Lock()
	idle := w.idle
	w.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
