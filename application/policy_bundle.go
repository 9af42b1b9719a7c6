package application

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"focal/domain"
)

// BundleImport asks to replace an agent's whole policy with a bundle.
type BundleImport struct {
	// TenantID owns the agent. Left empty with TenantFromBundle, the
	// bundle's agent.tenant_id names the owner.
	TenantID string
	// TenantFromBundle lets the bundle name its owner: only start-up
	// imports, whose bundle the operator chose, set it. Every other import
	// ignores the bundle's tenant_id (docs/agent-bundle.md).
	TenantFromBundle bool
	// AgentID is the agent replaced or created; the bundle's agent.id must
	// be empty or the same. Empty takes the bundle's agent.id.
	AgentID string
	// IfVersion, when not 0, must be the agent's current version (else
	// VERSION_CONFLICT), and the agent must exist.
	IfVersion int64
	// Bundle is the bundle's YAML or JSON text.
	Bundle []byte
	// SkipUnchanged makes a bundle that says what the current version says
	// no new version: every instance imports its start-up bundle when it
	// starts, and restarts must not pile up versions.
	SkipUnchanged bool
}

// ImportedBundle is what an import left stored.
type ImportedBundle struct {
	// Policy is the stored version as a bundle, as an admin sees it.
	Policy *domain.Policy
	// TenantID owns the agent.
	TenantID string
	// Created reports a new agent.
	Created bool
	// Unchanged reports a bundle that SkipUnchanged kept from becoming a
	// new version; Policy is the current one.
	Unchanged bool
}

// ImportBundle replaces the agent's whole policy with a bundle as one new
// version, creating the agent when it does not exist and IfVersion is 0
// (numbered by the store, after a deleted agent's versions). Imports racing
// on one agent are applied one after the other, never lost. A tool URL
// that is the redacted form of the stored one (from an export) keeps the
// stored one. Field errors keep the bundle's paths. AGENT_NOT_FOUND,
// INVALID_REQUEST, VERSION_CONFLICT.
func (a *PolicyAdmin) ImportBundle(ctx context.Context, in BundleImport) (ImportedBundle, error) {
	if in.AgentID != "" && !IsUUID(in.AgentID) {
		return ImportedBundle{}, agentNotFound(in.AgentID)
	}
	p, err := parseBundleAlone(ctx, in.Bundle, a.limits)
	if err != nil {
		return ImportedBundle{}, err
	}
	tenantID, err := in.owner(p)
	if err != nil {
		return ImportedBundle{}, err
	}
	if p.Agent.ID = strings.ToLower(p.Agent.ID); in.AgentID != "" {
		if p.Agent.ID != "" && p.Agent.ID != strings.ToLower(in.AgentID) {
			return ImportedBundle{}, domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "must be empty or the agent id of the path, " + in.AgentID})
		}
		p.Agent.ID = strings.ToLower(in.AgentID)
	}
	if !IsUUID(p.Agent.ID) {
		return ImportedBundle{}, domain.InvalidFields(domain.FieldError{Field: "agent.id", Message: "must be a UUID"})
	}
	for attempt := 1; ; attempt++ {
		stored, unchanged, err := a.replace(ctx, tenantID, in, p)
		if err == nil {
			if unchanged {
				// An instance imports its start-up bundle as it starts,
				// before any turn: warm what it will serve.
				a.warm(tenantID, p.Agent.ID)
			}
			return ImportedBundle{Policy: asBundle(stored, ViewerAdmin), TenantID: tenantID, Unchanged: unchanged}, nil
		}
		if !domain.IsCode(err, domain.CodeAgentNotFound) || in.IfVersion > 0 {
			return ImportedBundle{}, err
		}
		created, err := a.create(ctx, tenantID, p)
		if err == nil {
			return ImportedBundle{Policy: asBundle(created, ViewerAdmin), TenantID: tenantID, Created: true}, nil
		}
		// Another import created it first: replace that version instead.
		if !domain.IsCode(err, domain.CodeVersionConflict) || attempt == editAttempts {
			return ImportedBundle{}, err
		}
	}
}

// owner is the tenant the import is for.
func (in BundleImport) owner(p *domain.Policy) (string, error) {
	switch {
	case in.TenantID != "":
		return strings.ToLower(in.TenantID), nil
	case !in.TenantFromBundle:
		return "", errors.New("policy admin: a bundle import names no tenant")
	case !IsUUID(p.Agent.TenantID):
		return "", domain.InvalidFields(domain.FieldError{Field: "agent.tenant_id",
			Message: "must be the owning tenant's UUID when the import names no tenant (FOCAL_BOOTSTRAP_TENANT at start-up)"})
	}
	return strings.ToLower(p.Agent.TenantID), nil
}

// errUnchanged stops an edit that would store what is stored already.
var errUnchanged = errors.New("the bundle says what the current version says")

// replace stores p as the next version of its existing agent; unchanged
// reports that SkipUnchanged found it the same as the current version,
// which is returned instead. AGENT_NOT_FOUND when there is no agent.
func (a *PolicyAdmin) replace(ctx context.Context, tenantID string, in BundleImport, p *domain.Policy) (stored *domain.Policy, unchanged bool, err error) {
	next, err := a.Edit(ctx, tenantID, p.Agent.ID, in.IfVersion, func(cur *domain.Policy) error {
		candidate, err := clonePolicy(p)
		if err != nil {
			return err
		}
		keepSecrets(candidate, cur)
		if in.SkipUnchanged && samePolicy(candidate, cur) {
			stored = cur
			return errUnchanged
		}
		*cur = *candidate
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return stored, true, nil
	}
	return next, false, err
}

// create stores p as a new agent. VERSION_CONFLICT when another writer
// created it first.
func (a *PolicyAdmin) create(ctx context.Context, tenantID string, p *domain.Policy) (*domain.Policy, error) {
	fresh := *p
	a.stamp(&fresh, tenantID, nil)
	if err := ValidatePolicyWithin(&fresh, a.limits); err != nil {
		return nil, err
	}
	if err := a.roomForAgent(ctx, tenantID); err != nil {
		return nil, err
	}
	if err := a.store.SavePolicy(ctx, tenantID, &fresh); err != nil {
		return nil, err
	}
	a.published(tenantID, fresh.Agent.ID)
	return &fresh, nil
}

// samePolicy reports whether two policies say the same, whatever their
// versions, owners and timestamps, and whether a part they lack is a
// missing or an empty list.
func samePolicy(a, b *domain.Policy) bool {
	strip := func(p *domain.Policy) []byte {
		c := *p
		c.Agent.Version, c.Agent.TenantID = 0, ""
		c.Agent.CreatedAt, c.Agent.UpdatedAt = time.Time{}, time.Time{}
		c.Variables, c.Rules, c.Scenarios = orEmpty(c.Variables), orEmpty(c.Rules), orEmpty(c.Scenarios)
		c.Templates, c.Tools = orEmpty(c.Templates), orEmpty(c.Tools)
		raw, err := json.Marshal(c)
		if err != nil {
			return nil // never the same: import it again
		}
		return raw
	}
	x, y := strip(a), strip(b)
	return x != nil && bytes.Equal(x, y)
}

// bundleParsing holds the one bundle the process is parsing, imported or
// replayed: parsing a bundle at the size limit takes up to a few hundred
// MB and a CPU-second (a 4 MiB body of tiny items built 460 MiB), which
// one tenant's requests must not multiply.
var bundleParsing = make(chan struct{}, 1)

// parseBundleAlone parses a bundle within limits once no other is being
// parsed.
func parseBundleAlone(ctx context.Context, bundle []byte, limits domain.PolicyLimits) (*domain.Policy, error) {
	select {
	case bundleParsing <- struct{}{}:
		defer func() { <-bundleParsing }()
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "the bundle waited too long to be read")
	}
	return ParseBundleWithin(bundle, limits)
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
