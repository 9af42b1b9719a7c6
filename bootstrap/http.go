package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	httpapi "focal/adapters/http"
	"focal/adapters/observe"
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
		func(clk ports.Clock) *application.Releases { return application.NewReleases(maxPendingReleases, clk) },
		func(cfg Config, keys ports.IdempotencyStore, turns ports.TurnStore, clk ports.Clock, releases *application.Releases) *application.Idempotency {
			u := application.NewIdempotency(cfg.Idempotency, keys, turns, clk)
			u.RetryReleases(releases)
			return u
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
	fx.Invoke(func(chat *application.ProcessMessage, releases *application.Releases) { chat.RetryReleases(releases) }),
)

// maxPendingReleases bounds the releases waiting for the store to come
// back (a few hundred bytes each); past it a lease or key lapses instead.
const maxPendingReleases = 10000

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
	// stopRequests ends the requests still running when the drain
	// deadline passes; running counts them.
	stopRequests context.CancelCauseFunc
	running      runningRequests
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// afterDrain bounds the wait for requests ended at the drain deadline:
// each records its turn (the commit has at most twice the commit timeout)
// and gives its lease and key up.
const afterDrain = 15 * time.Second

// afterHandlers bounds the wait, once the requests ended at the drain
// deadline have returned, for their responses to leave the buffers.
const afterHandlers = time.Second

// newServer depends on StartupBundle so that the data is loaded before the
// listener opens (fx runs start hooks in dependency order).
//
// A listener that fails under the server (an accept error net/http does
// not retry) stops the process with exit code 1: it would otherwise live
// on serving nothing, noticed only by a health check from outside, if
// any; stopped, it drains what still runs and its supervisor (systemd,
// Kubernetes) starts another.
func newServer(lc fx.Lifecycle, shutdowner fx.Shutdowner, cfg Config, handler http.Handler, log *zap.Logger, releases *application.Releases, _ *StartupBundle) *Server {
	base, stop := context.WithCancelCause(context.Background())
	s := &Server{stopRequests: stop}
	s.srv = httpapi.NewServer(cfg.HTTP, s.running.track(handler), log)
	s.srv.BaseContext = func(net.Listener) context.Context { return base }
	retrying, stopRetrying := context.WithCancel(context.Background())
	retried := make(chan struct{})
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
					log.Error("http server stopped; stopping the process", zap.Error(err))
					if err := shutdowner.Shutdown(fx.ExitCode(1)); err != nil {
						log.Error("stopping the process", zap.Error(err))
					}
				}
			}()
			go func() { defer close(retried); releases.Run(retrying) }()
			log.Info("listening", zap.String("addr", ln.Addr().String()))
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := s.shutdown(ctx, cfg.HTTP.ShutdownDrain, log)
			stopRetrying()
			<-retried
			// The stores close after this hook: releases that could not
			// reach them get one more try first.
			flush, cancel := context.WithTimeout(ctx, application.ReleaseAttempt)
			defer cancel()
			releases.Flush(flush)
			return err
		},
	})
	return s
}

// shutdown stops accepting at once and waits for in-flight turns and
// streams up to the drain deadline. Past it, the requests still running
// are ended (their turns are recorded as interrupted, their clients told,
// their leases and keys given up) and waited for, within afterDrain, and
// only then are their connections closed: the stores close after this.
func (s *Server) shutdown(ctx context.Context, drain time.Duration, log *zap.Logger) error {
	log.Info("draining", zap.Duration("deadline", drain))
	drainCtx, cancel := context.WithTimeout(ctx, drain)
	defer cancel()
	// Shutdown does not wait for connections that streams took over from
	// net/http (hijacked); their handlers still run, and are waited for.
	if err := s.srv.Shutdown(drainCtx); err == nil && s.running.wait(drainCtx) == nil {
		return nil
	}
	log.Warn("drain deadline passed; ending the requests still running", zap.Int("requests", s.running.count()))
	s.stopRequests(httpapi.ErrShuttingDown)
	waitCtx, cancelWait := context.WithTimeout(ctx, afterDrain)
	defer cancelWait()
	if err := s.running.wait(waitCtx); err != nil {
		log.Error("requests still running after the drain; closing their connections", zap.Int("requests", s.running.count()))
		return s.srv.Close()
	}
	// Their handlers have returned, but net/http may still hold what they
	// wrote (the 504 that tells a client why) in its buffer: closing the
	// connections now could cut it off. Shutdown waits until each
	// connection has sent its response and closed.
	sendCtx, cancelSend := context.WithTimeout(ctx, afterHandlers)
	defer cancelSend()
	if s.srv.Shutdown(sendCtx) == nil {
		return nil
	}
	return s.srv.Close()
}

// runningRequests counts the requests whose handlers have not returned.
// A request counts itself in and out on a count of the P it starts on,
// one of several counts each on its cache lines of its own: a single
// count was a line both cores' requests wrote twice each. A drain sums
// them. Each count stays at least 0 (a request counts out where it
// counted in), so a request running throughout a sum is in it, and a sum
// of 0 means that none was. Requests check for a drain, and take the
// lock to tell it they are done, only once one has begun.
type runningRequests struct {
	_      [runningPad]byte // keeps mu, idle and draining off the counts' lines
	counts [runningShards]runningCount
	// draining is set by the first wait and stays set: from then on a
	// request that counts out sums the counts, under mu.
	draining atomic.Bool
	mu       sync.Mutex
	idle     chan struct{} // closed when the sum drops to 0 while someone waits
}

// runningShards is how many counts runningRequests keeps; requests on the
// Ps past it share counts (a P's count is its number modulo this).
const runningShards = 16

// runningPad spaces the counts so that no two share a cache line, nor a
// pair of lines the CPU fetches together.
const runningPad = 128

// runningCount is the requests running that counted in on one P.
type runningCount struct {
	n atomic.Int64
	_ [runningPad - 8]byte
}

func (r *runningRequests) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c := &r.counts[observe.CurrentP()%runningShards]
		c.n.Add(1)
		defer r.done(c)
		h.ServeHTTP(w, req)
	})
}

// done counts a request out of c. A drain sets draining before it sums
// the counts under r.mu: a request that counted out before the drain set
// it is not in that sum, and one that counts out after sees it set and,
// under r.mu, tells the drain once the sum is 0 (the drain's sum, taken
// under r.mu too, made idle first).
func (r *runningRequests) done(c *runningCount) {
	c.n.Add(-1)
	if !r.draining.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idle != nil && r.sum() == 0 {
		close(r.idle)
		r.idle = nil
	}
}

// sum is how many requests run: the counts added up.
func (r *runningRequests) sum() int64 {
	var n int64
	for i := range r.counts {
		n += r.counts[i].n.Load()
	}
	return n
}

func (r *runningRequests) count() int { return int(r.sum()) }

// wait returns once no request runs, or with ctx's error.
func (r *runningRequests) wait(ctx context.Context) error {
	r.mu.Lock()
	r.draining.Store(true)
	if r.sum() == 0 {
		r.mu.Unlock()
		return nil
	}
	if r.idle == nil {
		r.idle = make(chan struct{})
	}
	idle := r.idle
	r.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
