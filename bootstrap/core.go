package bootstrap

import (
	"context"

	"go.uber.org/fx"

	"focal/adapters/clock"
	"focal/adapters/llm"
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
		newPolicyWarmer,
		newPolicyAdmin,
		application.NewAgentDirectory,
		application.NewAgentVersions,
		newReplayEngines,
		newReplay,
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
	Policies ports.PolicyHistory
	Eager    ExplainEagerly `optional:"true"`
}

// ExplainEagerly, supplied as true (fx.Supply), has every turn write its
// whole explanation as it runs, as before explanations were left to the
// records' readers: what the tests that hold the two to the same bytes
// compare against.
type ExplainEagerly bool

// engineOut is the engine as turns run it and as policy writes warm it,
// and what completes the explanations it leaves to the readers of its
// records.
type engineOut struct {
	fx.Out
	Engine    ports.Engine
	Preparer  application.PolicyPreparer
	Explainer application.TurnExplainer
}

// newEngine builds the engine; each turn's context carries its tenant, so
// the model can call with the tenant's own key. A words-only turn's
// record leaves its examples and terms to Conversations, which reads
// every record through the explainer.
func newEngine(p engineParams) (engineOut, error) {
	e, err := alignment.New(alignment.Deps{Model: p.Model, History: p.History, Clock: p.Clock, Embedder: p.Embedder, Tools: p.Tools,
		Limits: p.Limits, DeferExplanations: !bool(p.Eager)})
	if err != nil {
		return engineOut{}, err
	}
	x, err := alignment.NewRecordExplainer(e, p.Policies)
	if err != nil {
		return engineOut{}, err
	}
	return engineOut{Engine: application.ScopeToTenant(e), Preparer: e, Explainer: x}, nil
}

// newPolicyWarmer builds the warmer of newly written policies, and of
// the versions turns load (written on other instances); stopping
// ends the warms waiting for a compile slot and waits (within the stop's
// deadline) for those compiling.
func newPolicyWarmer(lc fx.Lifecycle, cache *application.PolicyCache, engine application.PolicyPreparer) (*application.PolicyWarmer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := application.NewPolicyWarmer(ctx, cache, engine)
	if err != nil {
		cancel()
		return nil, err
	}
	cache.WithWarmer(w)
	lc.Append(fx.Hook{OnStop: func(stop context.Context) error {
		cancel()
		return w.Wait(stop)
	}})
	return w, nil
}

// newReplayEngines builds each replay's engine like the live one, over the
// replay's sandbox, with the offline model unless the replay asks for the
// configured one. Replays are not instrumented: they are not traffic.
func newReplayEngines(p engineParams) application.ReplayEngines {
	return func(history ports.TurnStore, tools ports.ToolInvoker, configured bool) (ports.Engine, error) {
		var model ports.ChatModel = llm.Offline{}
		if configured {
			model = p.Model
		}
		e, err := alignment.New(alignment.Deps{Model: model, History: history, Clock: p.Clock, Embedder: p.Embedder, Tools: tools,
			Limits: p.Limits})
		if err != nil {
			return nil, err
		}
		return application.ScopeToTenant(e), nil
	}
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
	Warmer *application.PolicyWarmer
	// Tools judges tool URLs as they are written (lint).
	Tools ports.ToolAddresses
}

func newPolicyAdmin(p policyAdminParams) (*application.PolicyAdmin, error) {
	a, err := application.NewPolicyAdmin(p.Store, p.Cache, p.Clock)
	if err != nil {
		return nil, err
	}
	return a.WithLimits(p.Limits).WithWarmer(p.Warmer).WithToolAddresses(p.Tools), nil
}

// replayParams are the replay use case's collaborators.
type replayParams struct {
	fx.In
	Policies ports.PolicyStore
	History  ports.PolicyHistory
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Engines  application.ReplayEngines
	Limits   domain.PolicyLimits
}

func newReplay(p replayParams) (*application.Replay, error) {
	r, err := application.NewReplay(p.Policies, p.History, p.Sessions, p.Turns, p.Engines)
	if err != nil {
		return nil, err
	}
	return r.WithLimits(p.Limits), nil
}
