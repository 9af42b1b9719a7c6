package sqlkit

import (
	"encoding/json"

	"focal/domain"
	"focal/ports"
)

// CheckPolicy refuses a policy save without an agent id.
func CheckPolicy(p *domain.Policy) error {
	if p == nil || p.Agent.ID == "" {
		return domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "is required"})
	}
	return nil
}

// NextVersion is the version a save of p writes when the agent's newest
// stored version is current (0 for none; deleted when it is a deletion
// marker): the one p names, or the next for a create. VERSION_CONFLICT
// when that is not current+1.
func NextVersion(p *domain.Policy, current int64, deleted bool) (int64, error) {
	version := p.Agent.Version
	if version == 0 && (current == 0 || deleted) {
		version = current + 1
	}
	if version != current+1 {
		return 0, VersionConflict(p.Agent.ID, current)
	}
	return version, nil
}

// EncodePolicy is the agent and policy columns of p saved as version of
// the tenant's agent.
func EncodePolicy(tenantID string, p *domain.Policy, version int64) (agent, policy string, err error) {
	stored := *p
	stored.Agent.TenantID, stored.Agent.Version = tenantID, version
	policyJSON, err := json.Marshal(&stored)
	if err != nil {
		return "", "", domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	agentJSON, err := json.Marshal(&stored.Agent)
	if err != nil {
		return "", "", domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	return string(agentJSON), string(policyJSON), nil
}

// DecodePolicy reads a policy column of the tenant.
func DecodePolicy(tenantID, col string) (*domain.Policy, error) {
	var p domain.Policy
	if err := json.Unmarshal([]byte(col), &p); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	p.Agent.TenantID = tenantID
	return &p, nil
}

// DecodeAgent reads an agent column of the tenant.
func DecodeAgent(tenantID, col string) (domain.Agent, error) {
	var a domain.Agent
	if err := json.Unmarshal([]byte(col), &a); err != nil {
		return a, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
	}
	a.TenantID = tenantID
	return a, nil
}

// AgentItem reads the tenant's agents of a listing (agent_id, agent) with
// the cursor after each.
func AgentItem(tenantID string) func(Row) (domain.Agent, string, error) {
	return func(row Row) (domain.Agent, string, error) {
		var id, col string
		if err := row.Scan(&id, &col); err != nil {
			return domain.Agent{}, "", err
		}
		a, err := DecodeAgent(tenantID, col)
		return a, ports.AgentCursors.Cursor(tenantID, id), err
	}
}

// VersionItem reads the versions of the tenant's agent agentID of a
// listing (agent) with the cursor after each.
func VersionItem(tenantID, agentID string) func(Row) (domain.Agent, string, error) {
	return func(row Row) (domain.Agent, string, error) {
		col, err := ScanText(row)
		if err != nil {
			return domain.Agent{}, "", err
		}
		a, err := DecodeAgent(tenantID, col)
		return a, ports.VersionCursors.Cursor(tenantID, agentID, a.Version), err
	}
}
