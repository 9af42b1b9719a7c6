package application

import (
	"context"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

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
	entries *lru.Cache[string, *policyEntry]
	loads   singleflight.Group

	// forgets counts Forget calls per agent, so a load that began before a
	// write cannot put the old policy back after the write forgot it.
	mu      sync.Mutex
	forgets map[string]uint64
}

type policyEntry struct {
	mu        sync.Mutex
	policy    *domain.Policy
	checkedAt time.Time
}

// policyCacheSize bounds the agents kept; others are loaded again on use.
const policyCacheSize = 4096

// NewPolicyCache returns a cache over store that re-checks versions every
// refresh (0 checks on every call).
func NewPolicyCache(store ports.PolicyStore, clock ports.Clock, refresh time.Duration) (*PolicyCache, error) {
	if store == nil || clock == nil {
		return nil, fmt.Errorf("policy cache: store and clock are required")
	}
	entries, err := lru.New[string, *policyEntry](policyCacheSize)
	if err != nil {
		return nil, err
	}
	return &PolicyCache{store: store, clock: clock, refresh: refresh, entries: entries, forgets: map[string]uint64{}}, nil
}

// Get returns the agent's current policy, at most refresh old.
// AGENT_NOT_FOUND when the agent does not exist for the tenant.
func (c *PolicyCache) Get(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	key := tenantID + "/" + agentID
	now := c.clock.Now()
	if e, ok := c.entries.Get(key); ok {
		e.mu.Lock()
		p, fresh := e.policy, now.Sub(e.checkedAt) < c.refresh
		e.mu.Unlock()
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
			e.mu.Lock()
			e.checkedAt = now
			e.mu.Unlock()
			return p, nil
		}
	}
	v, err, _ := c.loads.Do(key, func() (any, error) {
		c.mu.Lock()
		gen := c.forgets[key]
		c.mu.Unlock()
		p, err := c.store.GetPolicy(ctx, tenantID, agentID)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.forgets[key] == gen {
			c.entries.Add(key, &policyEntry{policy: p, checkedAt: now})
		}
		c.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*domain.Policy), nil
}

// Forget drops an agent so the next Get reads the store; policy writes on
// this instance call it so their own changes show at once.
func (c *PolicyCache) Forget(tenantID, agentID string) {
	key := tenantID + "/" + agentID
	c.mu.Lock()
	c.forgets[key]++
	c.mu.Unlock()
	c.entries.Remove(key)
}
