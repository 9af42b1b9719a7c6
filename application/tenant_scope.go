package application

import (
	"context"

	"focal/ports"
)

// ScopeToTenant makes the context of every turn e runs carry the turn's
// tenant (ports.WithTenant), so that what the engine calls — the chat
// model — can act for that tenant, with its own key.
func ScopeToTenant(e ports.Engine) ports.Engine { return tenantScoped{e} }

type tenantScoped struct{ next ports.Engine }

// RunTurn implements ports.Engine.
func (s tenantScoped) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	if in.Session != nil {
		ctx = ports.WithTenant(ctx, in.Session.TenantID)
	}
	return s.next.RunTurn(ctx, in, sink)
}
