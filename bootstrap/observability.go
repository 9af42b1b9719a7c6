package bootstrap

import (
	"github.com/gin-gonic/gin"
	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/observe"
	"focal/adapters/postgres"
	"focal/adapters/resilience"
	"focal/application"
	"focal/ports"
)

// ObserveModule is where observation is attached, and the only place: it
// builds tracing and metrics, hands every adapter what it reports to
// (Observers, which their constructors take), wraps the ports in metrics
// and spans (observed), and serves /metrics, /healthz and /readyz. It
// must sit at the root of the graph: see observed.
var ObserveModule = fx.Options(
	fx.Module("observe",
		fx.Provide(
			newTracing,
			func(t *observe.Tracing) *observe.Metrics { return observe.NewMetrics(t.Provider()) },
			newObservers,
			asRoutes(func(cfg Config, m *observe.Metrics) *httpapi.MetricsRoutes {
				return httpapi.NewMetricsRoutes(m.Handler(), cfg.HTTP.MetricsToken)
			}),
			asRoutes(func(p healthParams) *httpapi.HealthRoutes { return httpapi.NewHealthRoutes(p.Checks) }),
		),
	),
	observed,
)

// Observers is what the adapters report to, each through its constructor.
type Observers struct {
	// ModelBreakers and ToolBreakers hear of breaker changes and retries.
	ModelBreakers resilience.Observer
	ToolBreakers  resilience.Observer
	// Streams hears of SSE streams opening and closing.
	Streams httpapi.StreamObserver
	// Requests counts, times and traces every HTTP request.
	Requests gin.HandlerFunc
	// MongoCommands counts the commands sent to MongoDB: the driver's own
	// command monitor calls it.
	MongoCommands func(name string)
	// PostgresStatements counts the statements sent to PostgreSQL: the
	// pool's tracer calls it.
	PostgresStatements func(postgres.StatementEvent)
	// Usage counts the tokens charged to tenants and the turns budgets
	// refused.
	Usage application.UsageObserver
}

// newObservers logs breaker changes and retries and records everything
// in m. Tool breakers are named by tenant, agent and tool: their metrics
// are counted together, never labelled by name.
func newObservers(cfg Config, m *observe.Metrics, log *zap.Logger) Observers {
	return Observers{
		ModelBreakers: resilience.Observers{resilience.LogObserver{Log: log.Named("llm")}, m},
		ToolBreakers:  resilience.Observers{resilience.LogObserver{Log: log.Named("tools")}, m.ToolBreakers()},
		Streams:       m,
		Requests:      m.GinMiddlewareFrom(httpapi.RequestStart),
		MongoCommands: m.MongoCommand,
		PostgresStatements: func(ev postgres.StatementEvent) {
			m.PostgresStatement(ev.Name)
		},
		Usage: m.Usage(cfg.Tenants.MetricsPerTenant),
	}
}

// observed wraps every port in metrics and spans. A decorator inside a
// module reaches only that module's consumers, so these sit at the root;
// and dig allows one decorator per type and scope, so a test's decorator
// of the same port (Options' extra, in the service scope) wraps the
// observed port.
var observed = fx.Decorate(
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
	func(m *observe.Metrics, cfg Config, e ports.Embedder) ports.Embedder {
		if e == nil {
			return nil // no embeddings configured
		}
		return m.Embedder(e, cfg.LLM.Embeddings.Provider, cfg.LLM.Embeddings.Model)
	},
	func(m *observe.Metrics, e ports.Engine) ports.Engine { return m.Engine(e) },
)

// healthParams are the readiness checks the modules give /readyz.
type healthParams struct {
	fx.In
	Checks []httpapi.ReadinessCheck `group:"readiness"`
}

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
