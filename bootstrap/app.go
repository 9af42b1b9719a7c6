package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/netutil"

	"focal/adapters/clock"
	httpapi "focal/adapters/http"
	"focal/adapters/llm"
	"focal/adapters/logctx"
	"focal/adapters/observe"
	"focal/adapters/resilience"
	"focal/adapters/tools"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// NewLogger builds the service logger from cfg.
func NewLogger(cfg LogConfig) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if cfg.Format == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.DisableStacktrace = level != zapcore.DebugLevel
	return zc.Build()
}

// Options returns the fx options of the whole service for cfg. extra
// options come last, so tests can add fx.Populate or fx.Decorate. Every
// line logged through log has its URL credentials redacted.
func Options(cfg Config, log *zap.Logger, extra ...fx.Option) fx.Option {
	log = logctx.Redacting(log)
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger { return quietFxLogger(log) }),
		CoreModule,
		storeModule(cfg.Store),
		ModelModule,
		ToolsModule,
		ObservabilityModule,
		instrumented,
		HTTPModule,
		fx.Invoke(debugListener),
		fx.Options(extra...),
	)
}

// quietFxLogger sends fx's wiring events to zap at debug level: at info
// they bury the few lines an operator needs under a hundred. fx's errors
// keep the error level.
func quietFxLogger(log *zap.Logger) fxevent.Logger {
	l := &fxevent.ZapLogger{Logger: log.Named("fx")}
	l.UseLogLevel(zapcore.DebugLevel)
	return l
}

// NewApp returns the fx application for cfg. Stopping waits for the HTTP
// drain and a few seconds more for the stores to close.
func NewApp(cfg Config, log *zap.Logger, extra ...fx.Option) *fx.App {
	return fx.New(Options(cfg, log, extra...), fx.StopTimeout(cfg.HTTP.ShutdownDrain+10*time.Second))
}

// CoreModule provides the application: the clock, the policy cache, the
// alignment engine and the use cases.
var CoreModule = fx.Module("core",
	fx.Provide(
		fx.Annotate(func() clock.System { return clock.System{} }, fx.As(new(ports.Clock))),
		func(cfg Config) (domain.PolicyLimits, error) { return cfg.Policy.PolicyLimits() },
		func(cfg Config, store ports.PolicyStore, clk ports.Clock) (*application.PolicyCache, error) {
			return application.NewPolicyCache(store, clk, cfg.Chat.PolicyRefresh)
		},
		newEngine,
		func(cfg Config, policies *application.PolicyCache, sessions ports.SessionStore, turns ports.TurnStore,
			locker ports.SessionLocker, engine ports.Engine, clk ports.Clock) (*application.ProcessMessage, error) {
			return application.NewProcessMessage(cfg.Chat.application(), policies, sessions, turns, locker, engine, clk)
		},
		application.NewConversations,
		func(store ports.PolicyStore, cache *application.PolicyCache, clk ports.Clock, limits domain.PolicyLimits) (*application.PolicyAdmin, error) {
			a, err := application.NewPolicyAdmin(store, cache, clk)
			if err != nil {
				return nil, err
			}
			return a.WithLimits(limits), nil
		},
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

// newEngine builds the engine, instrumented. It is wrapped here rather
// than with fx.Decorate so that tests stay free to decorate ports.Engine.
func newEngine(p engineParams, m *observe.Metrics) (ports.Engine, error) {
	e, err := alignment.New(alignment.Deps{Model: p.Model, History: p.History, Clock: p.Clock, Embedder: p.Embedder, Tools: p.Tools,
		Limits: p.Limits})
	if err != nil {
		return nil, err
	}
	return m.Engine(e), nil
}

// ModelModule provides the chat model: the configured provider and its
// fallback chain behind the resilience guard (offline by default), the
// embedder when one is configured, and the "llm" readiness check.
var ModelModule = fx.Module("llm", fx.Provide(
	func(cfg Config, log *zap.Logger, m *observe.Metrics) (*models, error) {
		chat, emb, err := llm.Build(cfg.LLM, log.Named("llm"), llm.WithObserver(m))
		return &models{chat: chat, embedder: emb}, err
	},
	func(m *models) ports.ChatModel { return m.chat },
	func(m *models) ports.Embedder { return m.embedder },
	fx.Annotate(modelReadiness, fx.ResultTags(`group:"readiness"`)),
))

// models is what llm.Build made, before any decorator wraps it.
type models struct {
	chat     ports.ChatModel
	embedder ports.Embedder // nil without embeddings
}

// modelReadiness is ready while some model of the chain can be called.
func modelReadiness(m *models) httpapi.ReadinessCheck {
	return httpapi.ReadinessCheck{Name: "llm", Check: func(ctx context.Context) error {
		if r, ok := m.chat.(*llm.Resilient); ok {
			return r.Ready(ctx)
		}
		return nil // the offline model never fails
	}}
}

// ToolsModule provides the webhook tool invoker behind the resilience
// guard. Tool breakers are named by tenant, agent and tool: their metrics
// are counted together, never labelled by name.
var ToolsModule = fx.Module("tools", fx.Provide(
	func(cfg Config, log *zap.Logger, m *observe.Metrics, clk ports.Clock) (ports.ToolInvoker, error) {
		hook, err := tools.NewWebhook(cfg.Tools)
		if err != nil {
			return nil, err
		}
		return tools.NewResilient(hook.WithClock(clk), cfg.Tools,
			resilience.Observers{resilience.LogObserver{Log: log.Named("tools")}, m.ToolBreakers()}), nil
	},
))

// HTTPModule provides the router and the listener, and registers the
// endpoint sets given to the "routes" group.
var HTTPModule = fx.Module("http",
	fx.Provide(
		func(cfg Config) (*httpapi.Authenticator, error) { return httpapi.NewAuthenticator(cfg.Auth) },
		func(cfg Config, limiter ports.RateLimiter) *httpapi.RateLimits {
			return httpapi.NewRateLimits(cfg.RateLimit, limiter)
		},
		asRoutes(func(cfg Config, chat *application.ProcessMessage, turns *application.Conversations,
			keys ports.IdempotencyStore, limits *httpapi.RateLimits, m *observe.Metrics) *httpapi.ChatRoutes {
			idem := cfg.Idempotency
			idem.ClaimTTL = cfg.Chat.claimTTL()
			return httpapi.NewChatRoutes(cfg.HTTP, idem, chat, turns, keys, limits).ObserveStreams(m)
		}),
		asRoutes(httpapi.NewConversationRoutes),
		asRoutes(httpapi.NewPolicyRoutes),
		asRoutes(httpapi.NewOpenAPIRoutes),
		asRoutes(httpapi.NewSchemaRoutes),
		asRoutes(httpapi.NewConsoleRoutes),
		fx.Annotate(
			func(cfg Config, log *zap.Logger, auth *httpapi.Authenticator, limits *httpapi.RateLimits, routes []httpapi.Routes,
				m *observe.Metrics) http.Handler {
				return httpapi.NewRouter(cfg.HTTP, log, auth, limits, routes, m.GinMiddleware())
			},
			fx.ParamTags(``, ``, ``, ``, `group:"routes"`)),
		newStartupBundle,
		newServer,
	),
	fx.Invoke(func(*Server) {}),
)

// asRoutes provides an endpoint set into the "routes" group.
func asRoutes(ctor any) any {
	return fx.Annotate(ctor, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))
}

// Server is the running HTTP listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// newServer depends on StartupBundle so that the data is loaded before the
// listener opens (fx runs start hooks in dependency order).
func newServer(lc fx.Lifecycle, cfg Config, handler http.Handler, log *zap.Logger, _ *StartupBundle) *Server {
	s := &Server{srv: httpapi.NewServer(cfg.HTTP, handler, log)}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// Listen before returning so a port conflict fails start-up;
			// serving goes on in the background.
			ln, err := net.Listen("tcp", cfg.HTTP.Addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
			}
			s.ln = netutil.LimitListener(ln, cfg.HTTP.MaxConnections)
			ln = s.ln
			go func() {
				if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", zap.Error(err))
				}
			}()
			log.Info("listening", zap.String("addr", ln.Addr().String()))
			return nil
		},
		// Shutdown stops accepting at once, then waits for in-flight turns
		// and streams up to the drain deadline before the stores close.
		OnStop: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, cfg.HTTP.ShutdownDrain)
			defer cancel()
			log.Info("draining", zap.Duration("deadline", cfg.HTTP.ShutdownDrain))
			if err := s.srv.Shutdown(ctx); err != nil {
				log.Warn("drain deadline passed; closing remaining connections", zap.Error(err))
				return s.srv.Close()
			}
			return nil
		},
	})
	return s
}

// StartupBundle is the agent FOCAL_BOOTSTRAP_BUNDLE imported at start, as
// stored: Policy is nil until the app has started, and stays nil without a
// start-up bundle.
type StartupBundle struct {
	Tenant string
	Policy *domain.Policy
}

func newStartupBundle(lc fx.Lifecycle, cfg Config, store ports.PolicyStore, limits domain.PolicyLimits, log *zap.Logger) *StartupBundle {
	loaded := &StartupBundle{}
	if cfg.Startup.Bundle != "" {
		lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			return importStartupBundle(ctx, cfg.Startup, store, limits, log, loaded)
		}})
	}
	return loaded
}

// importStartupBundle imports the start-up bundle into the store and
// records the stored policy in loaded.
func importStartupBundle(ctx context.Context, cfg StartupConfig, store ports.PolicyStore, limits domain.PolicyLimits, log *zap.Logger, loaded *StartupBundle) error {
	data, err := os.ReadFile(cfg.Bundle)
	if err != nil {
		return fmt.Errorf("read bootstrap bundle: %w", err)
	}
	p, err := application.ParseBundle(data)
	if err != nil {
		return fmt.Errorf("bootstrap bundle %s: %w", cfg.Bundle, err)
	}
	tenant := cfg.Tenant
	if tenant == "" {
		tenant = p.Agent.TenantID
	}
	if !application.IsUUID(tenant) {
		return errors.New("bootstrap bundle: set FOCAL_BOOTSTRAP_TENANT or agent.tenant_id in the bundle to the owning tenant's UUID")
	}
	loaded.Tenant = tenant
	// Every instance imports the bundle when it starts. An unchanged bundle
	// makes no new version, and instances starting together retry the
	// version race instead of failing to start.
	var saved *domain.Policy
	for attempt := 0; ; attempt++ {
		if current, err := store.GetPolicy(ctx, tenant, p.Agent.ID); err == nil && samePolicy(current, p) {
			log.Info("agent bundle unchanged", zap.String("agent_id", current.Agent.ID), zap.Int64("version", current.Agent.Version))
			loaded.Policy = current
			return nil
		}
		candidate := *p
		saved, err = application.ImportBundle(ctx, store, tenant, &candidate, time.Now(), limits)
		if err == nil {
			break
		}
		if !domain.IsCode(err, domain.CodeVersionConflict) || attempt == 4 {
			return fmt.Errorf("bootstrap bundle %s: %w", cfg.Bundle, err)
		}
	}
	log.Info("imported agent bundle", zap.String("tenant_id", tenant), zap.String("agent_id", saved.Agent.ID),
		zap.Int64("version", saved.Agent.Version), zap.Int("rules", len(saved.Rules)))
	loaded.Policy = saved
	return nil
}

// samePolicy reports whether two policies say the same, whatever their
// versions, owners and timestamps.
func samePolicy(a, b *domain.Policy) bool {
	strip := func(p *domain.Policy) []byte {
		c := *p
		c.Agent.Version, c.Agent.TenantID = 0, ""
		c.Agent.CreatedAt, c.Agent.UpdatedAt = time.Time{}, time.Time{}
		raw, _ := json.Marshal(c)
		return raw
	}
	return bytes.Equal(strip(a), strip(b))
}
