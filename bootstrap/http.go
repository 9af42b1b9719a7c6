package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	httpapi "focal/adapters/http"
	"focal/application"
	"focal/ports"
)

// HTTPModule provides the router and the listener, and registers the
// endpoint sets given to the "routes" group.
var HTTPModule = fx.Module("http",
	fx.Provide(
		func(cfg Config, clk ports.Clock) (*httpapi.Authenticator, error) {
			return httpapi.NewAuthenticator(cfg.Auth, clk)
		},
		func(cfg Config, limiter ports.RateLimiter, clk ports.Clock) *httpapi.RateLimits {
			return httpapi.NewRateLimits(cfg.RateLimit, limiter, clk)
		},
		func(cfg Config, keys ports.IdempotencyStore, turns ports.TurnStore, clk ports.Clock) *application.Idempotency {
			return application.NewIdempotency(cfg.Idempotency, keys, turns, clk)
		},
		asRoutes(newChatRoutes),
		asRoutes(newOpenAIRoutes),
		asRoutes(httpapi.NewConversationRoutes),
		asRoutes(httpapi.NewPolicyRoutes),
		asRoutes(httpapi.NewReplayRoutes),
		asRoutes(httpapi.NewTenantRoutes),
		asRoutes(httpapi.NewOpenAPIRoutes),
		asRoutes(httpapi.NewSchemaRoutes),
		asRoutes(httpapi.NewConsoleRoutes),
		newRouter,
		newStartupBundle,
		newServer,
	),
	fx.Invoke(func(*Server) {}),
)

// asRoutes provides an endpoint set into the "routes" group.
func asRoutes(ctor any) any {
	return fx.Annotate(ctor, fx.As(new(httpapi.Routes)), fx.ResultTags(`group:"routes"`))
}

// chatRoutesParams are the chat endpoints' collaborators.
type chatRoutesParams struct {
	fx.In
	Config      Config
	Chat        *application.ProcessMessage
	Turns       *application.Conversations
	Idempotency *application.Idempotency
	Limits      *httpapi.RateLimits
	Observers   Observers
}

func newChatRoutes(p chatRoutesParams) *httpapi.ChatRoutes {
	return httpapi.NewChatRoutes(p.Config.HTTP, p.Chat, p.Turns, p.Idempotency, p.Limits, p.Observers.Streams)
}

// openAIRoutesParams are the OpenAI-compatible endpoints' collaborators.
type openAIRoutesParams struct {
	fx.In
	Config      Config
	Chat        *application.ProcessMessage
	Agents      *application.AgentDirectory
	Idempotency *application.Idempotency
	Auth        *httpapi.Authenticator
	Limits      *httpapi.RateLimits
	Observers   Observers
}

func newOpenAIRoutes(p openAIRoutesParams) *httpapi.OpenAIRoutes {
	return httpapi.NewOpenAIRoutes(p.Config.HTTP, p.Idempotency, p.Chat, p.Agents, p.Auth, p.Limits, p.Observers.Streams)
}

// routerParams are the router's collaborators and every endpoint set.
type routerParams struct {
	fx.In
	Config    Config
	Log       *zap.Logger
	Auth      *httpapi.Authenticator
	Limits    *httpapi.RateLimits
	Routes    []httpapi.Routes `group:"routes"`
	Observers Observers
}

func newRouter(p routerParams) http.Handler {
	return httpapi.NewRouter(p.Config.HTTP, p.Log, p.Auth, p.Limits, p.Routes, p.Observers.Requests)
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
