package application

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"focal/application/bounded"
	"focal/domain"
	"focal/ports"
)

// PolicyCache serves agent policies from memory. It asks the store whether
// an agent's version changed at most once per refresh interval per agent, so
// a change made on any instance is served everywhere within that interval,
// and a turn usually costs no store round trip for policy.
type PolicyCache struct {
	store   ports.PolicyStore
	clock   ports.Clock
	refresh time.Duration
	entries *bounded.Cache[agentKey, *policyEntry]
	loads   singleflight.Group

	// forgets counts Forget calls, so a load that began before a write
	// cannot put the old policy back after the write forgot it. One count
	// for every agent keeps it one number: a load that saw any Forget is
	// served but not kept, and the next Get loads again.
	forgets atomic.Uint64

	// warmer prepares the versions turns load (see WithWarmer); nil
	// without one.
	warmer atomic.Pointer[PolicyWarmer]
}

// agentKey names an agent of a tenant: a struct, not the text of both, so
// that finding a turn's policy allocates nothing.
type agentKey struct{ tenantID, agentID string }

// policyEntry is an agent's policy and when its version was last
// checked. checkedAt is written once a refresh interval, and read by every
// turn: a lock around it was a line both cores' turns wrote.
type policyEntry struct {
	policy    *domain.Policy
	checkedAt atomic.Pointer[time.Time]
}

func newPolicyEntry(p *domain.Policy, checkedAt time.Time) *policyEntry {
	e := &policyEntry{policy: p}
	e.checkedAt.Store(&checkedAt)
	return e
}

// Bounds of the policies kept: how many agents, and how many bytes of
// policy text together (policies differ in size by orders of magnitude).
// Others are loaded again on use.
const (
	policyCacheSize  = 4096
	policyCacheBytes = 64 << 20
)

// NewPolicyCache returns a cache over store that re-checks versions every
// refresh (0 checks on every call).
func NewPolicyCache(store ports.PolicyStore, clock ports.Clock, refresh time.Duration) (*PolicyCache, error) {
	if store == nil || clock == nil {
		return nil, fmt.Errorf("policy cache: store and clock are required")
	}
	entries, err := bounded.New[agentKey, *policyEntry](policyCacheSize, policyCacheBytes,
		func(e *policyEntry) int64 { return int64(e.policy.TextBytes()) })
	if err != nil {
		return nil, err
	}
	return &PolicyCache{store: store, clock: clock, refresh: refresh, entries: entries}, nil
}

// WithWarmer makes w prepare every version a turn loads: one written on
// another instance, which this one learns of from a turn's version check,
// or any version on a turn of an instance just started. The turn that
// loads it still compiles its rules (w's warm joins that compile), but
// the steps' matchers are compiled in the background then, where they
// would otherwise be compiled on each step's first turn, tens of
// milliseconds each while a customer waits. Writes on this instance warm
// through PolicyAdmin.WithWarmer. Call it before serving.
func (c *PolicyCache) WithWarmer(w *PolicyWarmer) *PolicyCache {
	c.warmer.Store(w)
	return c
}

// Get returns the agent's current policy, at most refresh old.
// AGENT_NOT_FOUND when the agent does not exist for the tenant. A version
// it loads is not warmed (see WithWarmer): the warmer reads through Get.
func (c *PolicyCache) Get(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	return c.getAt(ctx, tenantID, agentID, c.clock.Now(), false)
}

// getAt is Get at now, the cache's clock as the caller has just read it
// (a turn's start), which saves a turn a second reading; warm says a
// version it loads is warmed (a turn's).
func (c *PolicyCache) getAt(ctx context.Context, tenantID, agentID string, now time.Time, warm bool) (*domain.Policy, error) {
	key := agentKey{tenantID, agentID}
	if e, ok := c.entries.Get(key); ok {
		p, fresh := e.policy, now.Sub(*e.checkedAt.Load()) < c.refresh
		if fresh {
			return p, nil
		}
		v, err := c.store.AgentVersion(ctx, tenantID, agentID)
		if err != nil {
			if domain.IsCode(err, domain.CodeAgentNotFound) {
				c.entries.Remove(key)
			}
			return nil, err
		}
		if v == p.Agent.Version {
			checked := now // a copy here, so that only a refresh allocates it
			e.checkedAt.Store(&checked)
			return p, nil
		}
	}
	// A load is shared only by Gets that saw the same Forget count: a Get
	// begun after a write on this instance must not join a load begun
	// before it, which may have read the store before the write.
	gen := c.forgets.Load()
	flight := c.loads.DoChan(tenantID+"/"+agentID+"/"+strconv.FormatUint(gen, 10), func() (any, error) {
		return c.load(ctx, key, now, gen, warm)
	})
	select {
	case r := <-flight:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*domain.Policy), nil
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "agent policy could not be read in time")
	}
}

// load reads the agent's policy into the cache for the Gets of one
// flight, and has the warmer prepare it when warm (see WithWarmer). The
// flight serves every Get that joins it, so its first caller going away
// (a client that hung up) must not fail the others: it keeps that
// caller's deadline, not its cancellation. It runs on the flight's
// goroutine, where a panic could not be recovered by the request's
// handler: it becomes an error here.
func (c *PolicyCache) load(ctx context.Context, key agentKey, now time.Time, gen uint64, warm bool) (_ any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = domain.Errorf(domain.CodeInternal, "agent policy cannot be read: %v", r)
		}
	}()
	lctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if deadline, ok := ctx.Deadline(); ok {
		lctx, cancel = context.WithDeadline(lctx, deadline)
	}
	defer cancel()
	p, err := c.store.GetPolicy(lctx, key.tenantID, key.agentID)
	if err != nil {
		return nil, err
	}
	c.entries.Add(key, newPolicyEntry(p, now))
	if c.forgets.Load() != gen {
		c.entries.Remove(key) // a write may have forgotten it meanwhile
	}
	if w := c.warmer.Load(); warm && w != nil {
		w.Warm(key.tenantID, key.agentID)
	}
	return p, nil
}

// Forget drops an agent so the next Get reads the store; policy writes on
// this instance call it so their own changes show at once.
func (c *PolicyCache) Forget(tenantID, agentID string) {
	c.forgets.Add(1)
	c.entries.Remove(agentKey{tenantID, agentID})
}
