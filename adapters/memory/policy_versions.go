package memory

import (
	"context"

	"focal/domain"
	"focal/ports"
)

var _ ports.PolicyHistory = (*Store)(nil)

// ListPolicyVersions implements ports.PolicyHistory. The cursor is the
// last listed version.
func (s *Store) ListPolicyVersions(ctx context.Context, tenantID, agentID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[domain.Agent]{}, unavailable(err)
	}
	last, paged, err := ports.VersionCursors.After(page.Cursor, tenantID, agentID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	s.mu.Lock()
	kept, ok := s.versions[policyKey(tenantID, agentID)]
	var agents []domain.Agent
	for i := len(kept) - 1; i >= 0; i-- {
		if !paged || kept[i].Agent.Version < last {
			agents = append(agents, kept[i].Agent)
		}
	}
	s.mu.Unlock()
	if !ok {
		return ports.Page[domain.Agent]{}, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	out := paginate(agents, page.Limit, func(a domain.Agent) string { return ports.VersionCursors.Cursor(tenantID, agentID, a.Version) })
	for i := range out.Items {
		if out.Items[i], err = cloneJSON(out.Items[i]); err != nil {
			return ports.Page[domain.Agent]{}, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
		}
	}
	return out, nil
}

// GetPolicyVersion implements ports.PolicyHistory.
func (s *Store) GetPolicyVersion(ctx context.Context, tenantID, agentID string, version int64) (*domain.Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	kept, ok := s.versions[policyKey(tenantID, agentID)]
	var found *domain.Policy
	for _, p := range kept {
		if p.Agent.Version == version {
			found = p
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return nil, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	case found == nil:
		return nil, domain.Errorf(domain.CodeNotFound, "agent %s has no version %d", agentID, version)
	}
	// Stored policies are never modified: copying outside the lock is safe.
	cp, err := clonePolicy(found)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	return cp, nil
}
