package application

import (
	"context"
	"errors"

	"focal/domain"
	"focal/ports"
)

// AgentVersions reads the history of an agent's policy: every version
// saved since the agent was created stays readable.
type AgentVersions struct {
	history ports.PolicyHistory
}

// NewAgentVersions returns the version queries over history.
func NewAgentVersions(history ports.PolicyHistory) (*AgentVersions, error) {
	if history == nil {
		return nil, errors.New("agent versions: a policy history is required")
	}
	return &AgentVersions{history: history}, nil
}

// List lists the agent's versions, newest first. AGENT_NOT_FOUND,
// INVALID_REQUEST for a bad cursor.
func (a *AgentVersions) List(ctx context.Context, tenantID, agentID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	if !IsUUID(agentID) {
		return ports.Page[domain.Agent]{}, agentNotFound(agentID)
	}
	return a.history.ListPolicyVersions(ctx, tenantID, agentID, page)
}

// Get returns the agent's policy as saved at version, as a bundle for
// viewer (tool credentials hidden as in an export). AGENT_NOT_FOUND,
// NOT_FOUND.
func (a *AgentVersions) Get(ctx context.Context, tenantID, agentID string, version int64, viewer Viewer) (*domain.Policy, error) {
	if !IsUUID(agentID) {
		return nil, agentNotFound(agentID)
	}
	p, err := a.history.GetPolicyVersion(ctx, tenantID, agentID, version)
	if err != nil {
		return nil, err
	}
	return asBundle(p, viewer), nil
}
