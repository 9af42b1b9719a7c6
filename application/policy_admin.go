package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"focal/domain"
	"focal/ports"
)

// PolicyAdmin is the policy management use case: agents, their rules,
// scenarios, templates and tools, and whole bundles. Every change is one
// atomic new version of the agent's policy, built on a copy of the current
// version and validated whole, so a reference can never dangle.
type PolicyAdmin struct {
	store  ports.PolicyStore
	cache  *PolicyCache
	clock  ports.Clock
	limits domain.PolicyLimits
	// linting holds the one policy being linted: linting one at the size
	// limit takes up to a few hundred MB and a CPU-second, which one
	// tenant's requests must not multiply (bundles are parsed one at a
	// time too: parseBundleAlone).
	linting chan struct{}
	// warmer, when set, compiles each version written here in the
	// background (PolicyWarmer says why not before answering).
	warmer *PolicyWarmer
	// addresses, when set, makes lint warn of tools whose address this
	// process's tool calls may not reach.
	addresses ports.ToolAddresses
}

// NewPolicyAdmin returns the policy management use case, within the
// default policy limits. cache is told of every change so this instance
// serves it at once.
func NewPolicyAdmin(store ports.PolicyStore, cache *PolicyCache, clock ports.Clock) (*PolicyAdmin, error) {
	if store == nil || cache == nil || clock == nil {
		return nil, errors.New("policy admin: store, cache and clock are required")
	}
	return &PolicyAdmin{store: store, cache: cache, clock: clock, limits: domain.DefaultPolicyLimits(),
		linting: make(chan struct{}, 1)}, nil
}

// WithLimits makes every policy written through a keep within limits;
// call it before serving.
func (a *PolicyAdmin) WithLimits(limits domain.PolicyLimits) *PolicyAdmin {
	a.limits = limits
	return a
}

// WithWarmer makes every policy written through a compiled in the
// background by w, ahead of its first turn; call it before serving.
func (a *PolicyAdmin) WithWarmer(w *PolicyWarmer) *PolicyAdmin {
	a.warmer = w
	return a
}

// WithToolAddresses makes lint warn of tools whose URL t refuses (see
// ports.ToolAddresses); call it before serving.
func (a *PolicyAdmin) WithToolAddresses(t ports.ToolAddresses) *PolicyAdmin {
	a.addresses = t
	return a
}

// published makes this instance serve the agent's newly stored version at
// once, and starts compiling it.
func (a *PolicyAdmin) published(tenantID, agentID string) {
	a.cache.Forget(tenantID, agentID)
	a.warm(tenantID, agentID)
}

// warm starts compiling the agent's current version, when there is a warmer.
func (a *PolicyAdmin) warm(tenantID, agentID string) {
	if a.warmer != nil {
		a.warmer.Warm(tenantID, agentID)
	}
}

// roomForAgent refuses a new agent when the tenant has as many as the
// agents limit allows. Two creations racing at the limit may both pass:
// the limit bounds a tenant's footprint, it is not an exact quota.
func (a *PolicyAdmin) roomForAgent(ctx context.Context, tenantID string) error {
	page, count := ports.PageRequest{Limit: ports.MaxPageSize}, 0
	for {
		agents, err := a.store.ListAgents(ctx, tenantID, page)
		if err != nil {
			return err
		}
		count += len(agents.Items)
		if count >= a.limits.Agents {
			return domain.InvalidFields(domain.FieldError{Field: "agent",
				Message: fmt.Sprintf("the tenant has %d agents, the most it may have (policy limit agents): delete one first", a.limits.Agents)})
		}
		if agents.NextCursor == "" {
			return nil
		}
		page.Cursor = agents.NextCursor
	}
}

// Versioned is a value of an agent's policy with the agent version it was
// read at or written as (the HTTP adapter's ETag).
type Versioned[T any] struct {
	Value   T
	Version int64
}

// editAttempts bounds how often an unconditional edit is applied again
// after another writer saved the same version first. Each loser waits a
// little, randomly, so a crowd of writers spreads out instead of colliding
// round after round.
const editAttempts = 12

// Edit changes an agent's policy: fn gets a private copy of the current
// version and the result, validated whole, is stored as the next version.
// ifVersion, when not 0, must be the current version (else
// VERSION_CONFLICT); without it a race with another writer re-applies fn to
// the newer version. fn cannot change the agent's id, tenant or version
// bookkeeping. AGENT_NOT_FOUND, INVALID_REQUEST, VERSION_CONFLICT, and
// whatever fn returns.
func (a *PolicyAdmin) Edit(ctx context.Context, tenantID, agentID string, ifVersion int64, fn func(*domain.Policy) error) (*domain.Policy, error) {
	for attempt := 1; ; attempt++ {
		current, err := a.load(ctx, tenantID, agentID)
		if err != nil {
			return nil, err
		}
		if ifVersion > 0 && current.Agent.Version != ifVersion {
			return nil, staleVersion(agentID, current.Agent.Version, ifVersion)
		}
		// Stores may hand out shared values: change only a deep copy.
		next, err := clonePolicy(current)
		if err != nil {
			return nil, err
		}
		if err := fn(next); err != nil {
			return nil, err
		}
		keepSecrets(next, current)
		a.stamp(next, tenantID, current)
		if err := ValidatePolicyWithin(next, a.limits); err != nil {
			return nil, err
		}
		err = a.store.SavePolicy(ctx, tenantID, next)
		switch {
		case err == nil:
			a.published(tenantID, agentID)
			return next, nil
		case !domain.IsCode(err, domain.CodeVersionConflict):
			return nil, err
		case ifVersion > 0:
			v, verr := a.store.AgentVersion(ctx, tenantID, agentID)
			if verr != nil {
				return nil, verr
			}
			return nil, staleVersion(agentID, v, ifVersion)
		case attempt == editAttempts:
			return nil, domain.WrapError(domain.CodeVersionConflict, err,
				fmt.Sprintf("agent %s is being changed by others at the same time; retry", agentID))
		}
		if err := pause(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// pause waits a random few milliseconds, growing with the attempt.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(1+rand.IntN(2*attempt)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func staleVersion(agentID string, current, expected int64) error {
	return domain.Errorf(domain.CodeVersionConflict,
		"agent %s is at version %d, not %d: read it again and retry", agentID, current, expected)
}

// load reads the current policy; ids that cannot be agent ids are unknown.
func (a *PolicyAdmin) load(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	if !IsUUID(agentID) {
		return nil, agentNotFound(agentID)
	}
	return a.store.GetPolicy(ctx, tenantID, agentID)
}

func agentNotFound(agentID string) error {
	return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
}

// stamp sets what only the service decides: identity, tenant, version and
// times. current is nil for a new agent, whose version is left 0: the store
// numbers it after whatever the id held before (a deleted agent's numbers
// are never reused) and sets the number on the policy.
func (a *PolicyAdmin) stamp(p *domain.Policy, tenantID string, current *domain.Policy) {
	now := a.clock.Now().UTC()
	p.Agent.TenantID = tenantID
	p.Agent.Version = 0
	p.Agent.CreatedAt = now
	if current != nil {
		p.Agent.ID = current.Agent.ID
		p.Agent.Version = current.Agent.Version + 1
		p.Agent.CreatedAt = current.Agent.CreatedAt
	}
	p.Agent.UpdatedAt = now
}

// clonePolicy deep-copies p through its JSON form, which every policy
// field has, so a field added later is copied too.
func clonePolicy(p *domain.Policy) (*domain.Policy, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "policy cannot be copied")
	}
	var cp domain.Policy
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "policy cannot be copied")
	}
	return &cp, nil
}

// sameTenant refuses a body that names another tenant than the caller's.
func sameTenant(bodyTenant, tenantID string) error {
	if bodyTenant != "" && !strings.EqualFold(bodyTenant, tenantID) {
		return domain.Errorf(domain.CodeTenantMismatch, "tenant_id %s is not the tenant of the token", bodyTenant)
	}
	return nil
}

// focusOn rewrites the fields of a validation error that lie inside the
// edited part (prefix, like "rules[7]") relative to it, so they name the
// fields of the request body; the others keep their full path.
func focusOn(err error, prefix string) error {
	var de *domain.Error
	if prefix == "" || !errors.As(err, &de) || de.Code != domain.CodeInvalidRequest {
		return err
	}
	out := *de
	out.Details = make([]domain.FieldError, len(de.Details))
	for i, d := range de.Details {
		if rest, ok := strings.CutPrefix(d.Field, prefix+"."); ok {
			d.Field = rest
		}
		out.Details[i] = d
	}
	return &out
}

// ListAgents lists the tenant's agents by id.
func (a *PolicyAdmin) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	return a.store.ListAgents(ctx, tenantID, page)
}

// GetAgent returns an agent (disabled ones too). AGENT_NOT_FOUND.
func (a *PolicyAdmin) GetAgent(ctx context.Context, tenantID, agentID string) (*domain.Agent, error) {
	p, err := a.load(ctx, tenantID, agentID)
	if err != nil {
		return nil, err
	}
	agent := p.Agent
	return &agent, nil
}

// CreateAgent stores a new agent without rules, scenarios, templates or
// tools, at version 1, or for the id of a deleted agent at the version
// after its last one (the store decides). An empty id gets a new UUID; an
// id in use is INVALID_REQUEST. Field errors name the agent's own fields.
func (a *PolicyAdmin) CreateAgent(ctx context.Context, tenantID string, agent domain.Agent) (*domain.Agent, error) {
	if err := sameTenant(agent.TenantID, tenantID); err != nil {
		return nil, err
	}
	agent.ID = strings.ToLower(agent.ID)
	if agent.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "agent id cannot be generated")
		}
		agent.ID = id.String()
	}
	exists := domain.InvalidFields(domain.FieldError{Field: "id", Message: "agent " + agent.ID + " already exists"})
	if IsUUID(agent.ID) {
		_, err := a.store.AgentVersion(ctx, tenantID, agent.ID)
		if err == nil {
			return nil, exists
		}
		if !domain.IsCode(err, domain.CodeAgentNotFound) {
			return nil, err
		}
	}
	p := &domain.Policy{Agent: agent}
	a.stamp(p, tenantID, nil)
	if err := ValidatePolicyWithin(p, a.limits); err != nil {
		return nil, focusOn(err, "agent")
	}
	if err := a.roomForAgent(ctx, tenantID); err != nil {
		return nil, err
	}
	if err := a.store.SavePolicy(ctx, tenantID, p); err != nil {
		if domain.IsCode(err, domain.CodeVersionConflict) {
			return nil, exists // created by someone else since the check
		}
		return nil, err
	}
	a.published(tenantID, agent.ID)
	return &p.Agent, nil
}

// UpdateAgent replaces the agent's own fields (name, description, system
// prompt, enabled, settings), not its parts, as the next version.
func (a *PolicyAdmin) UpdateAgent(ctx context.Context, tenantID, agentID string, ifVersion int64, agent domain.Agent) (*domain.Agent, error) {
	if err := sameTenant(agent.TenantID, tenantID); err != nil {
		return nil, err
	}
	p, err := a.Edit(ctx, tenantID, agentID, ifVersion, func(p *domain.Policy) error {
		p.Agent.Name = agent.Name
		p.Agent.Description = agent.Description
		p.Agent.SystemPrompt = agent.SystemPrompt
		p.Agent.Enabled = agent.Enabled
		p.Agent.Settings = agent.Settings
		return nil
	})
	if err != nil {
		return nil, focusOn(err, "agent")
	}
	return &p.Agent, nil
}

// DeleteAgent removes the agent and its whole policy. With ifVersion the
// agent must still be at that version. AGENT_NOT_FOUND, VERSION_CONFLICT.
func (a *PolicyAdmin) DeleteAgent(ctx context.Context, tenantID, agentID string, ifVersion int64) error {
	if !IsUUID(agentID) {
		return agentNotFound(agentID)
	}
	if ifVersion > 0 {
		v, err := a.store.AgentVersion(ctx, tenantID, agentID)
		if err != nil {
			return err
		}
		if v != ifVersion {
			return staleVersion(agentID, v, ifVersion)
		}
	}
	if err := a.store.DeleteAgent(ctx, tenantID, agentID); err != nil {
		return err
	}
	a.cache.Forget(tenantID, agentID)
	return nil
}
