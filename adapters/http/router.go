package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/domain"
)

// Config is the HTTP listener's configuration.
type Config struct {
	// Addr is the listen address.
	Addr string `env:"HTTP_ADDR" envDefault:":8080" yaml:"addr"`
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64 `env:"HTTP_MAX_BODY_BYTES" envDefault:"1048576" yaml:"max_body_bytes"`
	// MaxBundleBytes caps agent bundle imports, which carry whole policies.
	// The default is 2.5 times the 10,000-rule benchmark agent (1.6 MB)
	// and 7 times a Banking77-sized one (0.55 MB).
	MaxBundleBytes int64 `env:"HTTP_MAX_BUNDLE_BYTES" envDefault:"4194304" yaml:"max_bundle_bytes"`
	// MaxHeaderBytes caps request headers.
	MaxHeaderBytes int `env:"HTTP_MAX_HEADER_BYTES" envDefault:"65536" yaml:"max_header_bytes"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"10s" yaml:"read_header_timeout"`
	// ReadTimeout bounds how long a client may take to send a whole
	// request, headers and body: a body trickled in holds no connection
	// longer, token or not.
	ReadTimeout time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"30s" yaml:"read_timeout"`
	// WriteTimeout bounds every write: a response, or one event of a
	// stream (each event gets it afresh, so streams live as long as they
	// need). A client that stops reading is cut off when it passes.
	WriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"30s" yaml:"write_timeout"`
	// MaxConnections caps the connections open at once; more wait to be
	// accepted.
	MaxConnections int `env:"HTTP_MAX_CONNECTIONS" envDefault:"16384" yaml:"max_connections"`
	// MetricsToken, when set, is the bearer token GET /metrics requires.
	MetricsToken string `env:"METRICS_TOKEN" yaml:"metrics_token"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"120s" yaml:"idle_timeout"`
	// ShutdownDrain is how long a stopping server waits for in-flight turns
	// and streams to finish before it closes their connections.
	ShutdownDrain time.Duration `env:"SHUTDOWN_DRAIN" envDefault:"30s" yaml:"shutdown_drain"`
	// SSEHeartbeat is how often an idle stream gets a comment line, so
	// proxies keep it open.
	SSEHeartbeat time.Duration `env:"SSE_HEARTBEAT" envDefault:"15s" yaml:"sse_heartbeat"`
	// SSEKeepConnection leaves an HTTP/1.1 stream on net/http, its
	// connection open for the client's next request, for proxies that pool
	// their upstream connections. By default a stream takes its connection
	// over and closes it when it ends, holding about 10 KiB less while it
	// waits (see takeOver).
	SSEKeepConnection bool `env:"SSE_KEEP_CONNECTION" envDefault:"false" yaml:"sse_keep_connection"`
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("FOCAL_HTTP_ADDR must not be empty")
	case c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20:
		return errors.New("FOCAL_HTTP_MAX_BODY_BYTES must be 1 KiB..64 MiB")
	case c.MaxBundleBytes < c.MaxBodyBytes || c.MaxBundleBytes > 256<<20:
		return errors.New("FOCAL_HTTP_MAX_BUNDLE_BYTES must be at least the body limit and at most 256 MiB")
	case c.MaxHeaderBytes < 4096:
		return errors.New("FOCAL_HTTP_MAX_HEADER_BYTES must be at least 4096")
	case c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0:
		return errors.New("HTTP timeouts must be positive")
	case c.ReadTimeout < c.ReadHeaderTimeout:
		return errors.New("FOCAL_HTTP_READ_TIMEOUT must be at least FOCAL_HTTP_READ_HEADER_TIMEOUT")
	case c.MaxConnections < 1:
		return errors.New("FOCAL_HTTP_MAX_CONNECTIONS must be at least 1")
	case c.MetricsToken != "" && len(c.MetricsToken) < 16:
		return errors.New("FOCAL_METRICS_TOKEN must be at least 16 characters")
	case c.ShutdownDrain < 0:
		return errors.New("FOCAL_SHUTDOWN_DRAIN must not be negative")
	case c.SSEHeartbeat < 10*time.Millisecond:
		return errors.New("FOCAL_SSE_HEARTBEAT must be at least 10ms")
	}
	return nil
}

// Routes is a set of endpoints. public routes need no token (health,
// metrics, the API document); v1 routes are under /v1 behind
// authentication.
type Routes interface {
	Register(public *gin.RouterGroup, v1 *gin.RouterGroup)
}

// NewRouter builds the gin engine with the middleware every request goes
// through and the given endpoint sets; /v1 routes are authenticated and
// rate-limited. extra middleware (metrics, tracing) runs right after the
// request id and panic recovery, so it sees every request, 404s included.
func NewRouter(cfg Config, log *zap.Logger, auth *Authenticator, limits *RateLimits, routes []Routes, extra ...gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	r.Use(requestEntry(cfg, log), recovery(log))
	r.Use(extra...)
	r.Use(limitBody(cfg))
	r.NoRoute(func(c *gin.Context) {
		writeError(c, domain.Errorf(domain.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, domain.Errorf(CodeMethodNotAllowed, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
	public := r.Group("")
	v1 := r.Group("/v1", authenticate(auth), limits.requests, strictQuery)
	for _, rt := range routes {
		rt.Register(public, v1)
	}
	return r
}

// NewServer returns the HTTP server for handler with cfg's limits. The
// server's read and write timeouts cover what the server reads and writes
// on its own; the deadlines middleware moves them per request and per
// write (see deadlines).
func NewServer(cfg Config, handler http.Handler, log *zap.Logger) *http.Server {
	errLog, _ := zap.NewStdLogAt(log.Named("http"), zap.WarnLevel)
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
}
