package bootstrap

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/llm"
	"focal/adapters/tools"
	"focal/application"
	"focal/ports"
)

// ModelModule provides the chat model: the configured provider and its
// fallback chain behind the resilience guard (offline by default), the
// embedder when one is configured, and the "llm" readiness check, which
// asks the chain itself.
var ModelModule = fx.Module("llm", fx.Provide(
	newModels,
	func(m llm.Models) ports.ChatModel { return m.Chat },
	func(m llm.Models) ports.Embedder { return m.Embedder },
	func(m llm.Models) readiness {
		return readiness{Check: httpapi.ReadinessCheck{Name: "llm", Probe: m.Chat}}
	},
))

// modelsParams are what the chat model is built with: the tenants' keys,
// when they are on, are tried before the service's.
type modelsParams struct {
	fx.In
	Config     Config
	Log        *zap.Logger
	Observers  Observers
	TenantKeys *application.TenantKeys
}

func newModels(p modelsParams) (llm.Models, error) {
	deps := llm.Deps{Log: p.Log.Named("llm"), Breakers: p.Observers.ModelBreakers}
	if t := p.Config.Tenants; t.Secrets.Enabled() || t.RequireKeys {
		deps.Tenants = &llm.TenantKeys{Credentials: p.TenantKeys.Credentials, Require: t.RequireKeys, Refresh: t.KeysRefresh}
	}
	return llm.Build(p.Config.LLM, deps)
}

// readiness puts a check into the "readiness" group /readyz runs.
type readiness struct {
	fx.Out
	Check httpapi.ReadinessCheck `group:"readiness"`
}

// ToolsModule provides the webhook tool invoker behind the resilience
// guard, and the judge of tool addresses that lint asks when tools are
// written: both from the same allow-list.
var ToolsModule = fx.Module("tools", fx.Provide(newTools, newToolAddresses))

// toolsParams are the tool invoker's collaborators: the clock stamps each
// signed call.
type toolsParams struct {
	fx.In
	Config    Config
	Observers Observers
	Clock     ports.Clock
}

func newTools(p toolsParams) (ports.ToolInvoker, error) {
	hook, err := tools.NewWebhook(p.Config.Tools)
	if err != nil {
		return nil, err
	}
	return tools.NewResilient(hook.WithClock(p.Clock), p.Config.Tools, p.Observers.ToolBreakers, nil), nil
}

// newToolAddresses judges tool URLs with the egress the invoker's dialer
// enforces.
func newToolAddresses(cfg Config) (ports.ToolAddresses, error) {
	egress, err := tools.NewEgress(cfg.Tools.AllowedHosts)
	if err != nil {
		return nil, err
	}
	return egress, nil
}
