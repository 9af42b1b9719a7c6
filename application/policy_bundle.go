package application

import (
	"context"
	"strings"

	"focal/domain"
)

// ImportBundle replaces the agent's whole policy with a bundle (YAML or
// JSON) as one new version, creating the agent when it does not exist and
// ifVersion is 0 (numbered by the store, after a deleted agent's versions),
// and returns the stored bundle as an admin sees it. A tool URL that is the
// redacted form of the stored one (from an export) keeps the stored one. The bundle's agent id must
// be empty or agentID; its tenant_id is ignored. created reports a new
// agent. Field errors keep the bundle's paths.
func (a *PolicyAdmin) ImportBundle(ctx context.Context, tenantID, agentID string, ifVersion int64, bundle []byte) (p *domain.Policy, created bool, err error) {
	if !IsUUID(agentID) {
		return nil, false, agentNotFound(agentID)
	}
	in, err := a.parse(ctx, bundle)
	if err != nil {
		return nil, false, err
	}
	if in.Agent.ID != "" && !strings.EqualFold(in.Agent.ID, agentID) {
		return nil, false, domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "must be empty or the agent id of the path, " + agentID})
	}
	// The bundle's tenant_id names an owner only for start-up imports;
	// here the caller's tenant is the owner (docs/agent-bundle.md).
	in.Agent.ID = agentID
	for attempt := 1; ; attempt++ {
		p, err := a.Edit(ctx, tenantID, agentID, ifVersion, func(p *domain.Policy) error {
			*p = *in
			return nil
		})
		if err == nil {
			return asBundle(p, ViewerAdmin), false, nil
		}
		if !domain.IsCode(err, domain.CodeAgentNotFound) || ifVersion > 0 {
			return nil, false, err
		}
		fresh := *in
		a.stamp(&fresh, tenantID, nil)
		if err := ValidatePolicyWithin(&fresh, a.limits); err != nil {
			return nil, false, err
		}
		if err := a.roomForAgent(ctx, tenantID); err != nil {
			return nil, false, err
		}
		err = a.store.SavePolicy(ctx, tenantID, &fresh)
		if err == nil {
			a.cache.Forget(tenantID, agentID)
			return asBundle(&fresh, ViewerAdmin), true, nil
		}
		// Another import created it first: replace that version instead.
		if !domain.IsCode(err, domain.CodeVersionConflict) || attempt == editAttempts {
			return nil, false, err
		}
	}
}

// parse parses a bundle once no other is being parsed.
func (a *PolicyAdmin) parse(ctx context.Context, bundle []byte) (*domain.Policy, error) {
	select {
	case a.parsing <- struct{}{}:
		defer func() { <-a.parsing }()
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "the bundle waited too long to be read")
	}
	return ParseBundle(bundle)
}

// ExportBundle returns the agent's whole policy as a bundle, as viewer may
// see it.
func (a *PolicyAdmin) ExportBundle(ctx context.Context, tenantID, agentID string, viewer Viewer) (*domain.Policy, error) {
	p, err := a.load(ctx, tenantID, agentID)
	if err != nil {
		return nil, err
	}
	return asBundle(p, viewer), nil
}

// asBundle is p as a bundle for viewer: every list present, no tenant, so
// it imports into any tenant.
func asBundle(p *domain.Policy, viewer Viewer) *domain.Policy {
	out := *presentPolicy(p, viewer)
	out.Agent.TenantID = ""
	out.Rules = orEmpty(out.Rules)
	out.Scenarios = orEmpty(out.Scenarios)
	out.Templates = orEmpty(out.Templates)
	out.Tools = orEmpty(out.Tools)
	out.Variables = orEmpty(out.Variables)
	return &out
}

// orEmpty makes a missing list an empty one, so exports show every list.
func orEmpty[T any](items []T) []T {
	if items == nil {
		return []T{}
	}
	return items
}
