package bootstrap

import (
	"go.uber.org/fx"

	"focal/adapters/clock"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// CoreModule provides the application: the clock, the policy limits and
// cache, the alignment engine and the use cases.
var CoreModule = fx.Module("core",
	fx.Provide(
		fx.Annotate(func() clock.System { return clock.System{} }, fx.As(new(ports.Clock))),
		func(cfg Config) (domain.PolicyLimits, error) { return cfg.Policy.PolicyLimits() },
		func(cfg Config, store ports.PolicyStore, clk ports.Clock) (*application.PolicyCache, error) {
			return application.NewPolicyCache(store, clk, cfg.Chat.PolicyRefresh)
		},
		newEngine,
		newProcessMessage,
		application.NewConversations,
		newPolicyAdmin,
	),
)

// engineParams are the engine's collaborators; the embedder and the tool
// invoker are optional.
type engineParams struct {
	fx.In
	Model    ports.ChatModel
	History  ports.TurnStore
	Clock    ports.Clock
	Embedder ports.Embedder    `optional:"true"`
	Tools    ports.ToolInvoker `optional:"true"`
	Limits   domain.PolicyLimits
}

func newEngine(p engineParams) (ports.Engine, error) {
	return alignment.New(alignment.Deps{Model: p.Model, History: p.History, Clock: p.Clock, Embedder: p.Embedder, Tools: p.Tools,
		Limits: p.Limits})
}

// processMessageParams are the chat use case's collaborators.
type processMessageParams struct {
	fx.In
	Config   Config
	Policies *application.PolicyCache
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Locker   ports.SessionLocker
	Engine   ports.Engine
	Clock    ports.Clock
}

func newProcessMessage(p processMessageParams) (*application.ProcessMessage, error) {
	return application.NewProcessMessage(p.Config.Chat.application(), p.Policies, p.Sessions, p.Turns, p.Locker, p.Engine, p.Clock)
}

// policyAdminParams are the policy management use case's collaborators.
type policyAdminParams struct {
	fx.In
	Store  ports.PolicyStore
	Cache  *application.PolicyCache
	Clock  ports.Clock
	Limits domain.PolicyLimits
}

func newPolicyAdmin(p policyAdminParams) (*application.PolicyAdmin, error) {
	a, err := application.NewPolicyAdmin(p.Store, p.Cache, p.Clock)
	if err != nil {
		return nil, err
	}
	return a.WithLimits(p.Limits), nil
}
