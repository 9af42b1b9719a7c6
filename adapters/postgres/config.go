package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config is the PostgreSQL store's configuration. The loader adds the
// FOCAL_ prefix to every variable (FOCAL_POSTGRES_URL, ...).
type Config struct {
	// URL is the connection string (postgres://user:password@host:port/db?sslmode=...).
	URL string `env:"POSTGRES_URL" envDefault:"postgres://localhost:5432/focal" yaml:"url"`
	// OperationTimeout bounds every store call; the caller's own deadline
	// still applies when it is sooner.
	OperationTimeout time.Duration `env:"POSTGRES_OPERATION_TIMEOUT" envDefault:"5s" yaml:"operation_timeout"`
	// MaxConns caps the pool's connections.
	MaxConns int32 `env:"POSTGRES_MAX_CONNS" envDefault:"20" yaml:"max_conns"`
	// MinConns keeps this many connections open.
	MinConns int32 `env:"POSTGRES_MIN_CONNS" envDefault:"0" yaml:"min_conns"`
	// ConnectTimeout bounds opening one connection.
	ConnectTimeout time.Duration `env:"POSTGRES_CONNECT_TIMEOUT" envDefault:"10s" yaml:"connect_timeout"`
	// PingIdleAfter is how long a pooled connection may sit idle before it
	// is pinged when taken: one round trip more for that statement. One
	// idle for less is used straight away; a statement finding it closed
	// by the server is sent again on another connection where that is
	// safe (errors.go).
	PingIdleAfter time.Duration `env:"POSTGRES_PING_IDLE_AFTER" envDefault:"1s" yaml:"ping_idle_after"`
}

// Defaults used for zero fields of a Config built in code.
const (
	DefaultOperationTimeout = 5 * time.Second
	DefaultMaxConns         = 20
	DefaultConnectTimeout   = 10 * time.Second
	// DefaultPingIdleAfter is pgxpool's own threshold. A quiet service's
	// turns pay a round trip for it, and in return a connection the server
	// dropped while idle (a restart, a failover) is found by the ping and
	// replaced, not by a statement that cannot always be sent again (an
	// agent's save, a model key's): those would answer 503.
	DefaultPingIdleAfter = time.Second
)

// WithDefaults returns c with every zero field given its default.
func (c Config) WithDefaults() Config {
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.PingIdleAfter == 0 {
		c.PingIdleAfter = DefaultPingIdleAfter
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if _, err := pgxpool.ParseConfig(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("FOCAL_POSTGRES_URL cannot be read: %w", err))
	}
	if c.OperationTimeout <= 0 || c.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("FOCAL_POSTGRES_OPERATION_TIMEOUT and FOCAL_POSTGRES_CONNECT_TIMEOUT must be positive"))
	}
	if c.PingIdleAfter < 0 {
		errs = append(errs, errors.New("FOCAL_POSTGRES_PING_IDLE_AFTER must be positive"))
	}
	if c.MaxConns < 1 || c.MinConns < 0 || c.MinConns > c.MaxConns {
		errs = append(errs, errors.New("FOCAL_POSTGRES_MAX_CONNS must be at least 1 and FOCAL_POSTGRES_MIN_CONNS within 0..FOCAL_POSTGRES_MAX_CONNS"))
	}
	return errors.Join(errs...)
}
