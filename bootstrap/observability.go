package bootstrap

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/observe"
	"focal/domain"
	"focal/ports"
)

// ObservabilityModule provides tracing, metrics, /metrics, /healthz and
// /readyz.
var ObservabilityModule = fx.Module("observe",
	fx.Provide(
		newTracing,
		func(t *observe.Tracing) *observe.Metrics { return observe.NewMetrics(t.Provider()) },
		asRoutes(func(cfg Config, m *observe.Metrics) *httpapi.MetricsRoutes {
			return httpapi.NewMetricsRoutes(m.Handler(), cfg.HTTP.MetricsToken)
		}),
		fx.Annotate(httpapi.NewHealthRoutes, fx.ParamTags(`group:"readiness"`),
			fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`)),
		fx.Annotate(storeReadiness, fx.ResultTags(`group:"readiness"`)),
	),
)

// instrumented decorates every port with metrics and tracing. Decorators
// must sit at the root of the graph: inside a module they would reach only
// that module's own consumers.
var instrumented = fx.Decorate(
	func(m *observe.Metrics, s ports.PolicyStore) ports.PolicyStore { return m.PolicyStore(s) },
	func(m *observe.Metrics, s ports.SessionStore) ports.SessionStore { return m.SessionStore(s) },
	func(m *observe.Metrics, s ports.TurnStore) ports.TurnStore { return m.TurnStore(s) },
	func(m *observe.Metrics, s ports.SessionLocker) ports.SessionLocker { return m.SessionLocker(s) },
	func(m *observe.Metrics, s ports.IdempotencyStore) ports.IdempotencyStore {
		return m.IdempotencyStore(s)
	},
	func(m *observe.Metrics, s ports.RateLimiter) ports.RateLimiter { return m.RateLimiter(s) },
	func(m *observe.Metrics, cfg Config, c ports.ChatModel) ports.ChatModel {
		return m.ChatModel(c, cfg.LLM.Provider, "")
	},
)

func newTracing(lc fx.Lifecycle, cfg Config, log *zap.Logger) (*observe.Tracing, error) {
	t, err := observe.NewTracing(cfg.Tracing, log)
	if err != nil {
		return nil, err
	}
	// Appended before the listener's hook, so it stops after the drain and
	// flushes the last spans.
	lc.Append(fx.Hook{OnStop: t.Shutdown})
	return t, nil
}

// storeReadiness probes the store through the policy port: an unknown
// agent answering "not found" proves the store answers.
func storeReadiness(s ports.PolicyStore) httpapi.ReadinessCheck {
	return httpapi.ReadinessCheck{Name: "store", Check: func(ctx context.Context) error {
		const none = "00000000-0000-0000-0000-000000000000"
		_, err := s.AgentVersion(ctx, none, none)
		if err == nil || domain.IsCode(err, domain.CodeAgentNotFound) {
			return nil
		}
		return err
	}}
}
