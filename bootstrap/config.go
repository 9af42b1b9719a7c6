// Package bootstrap assembles Focal: it loads configuration and wires every
// package with fx. It is the only package that knows them all; fx is used at
// start-up only.
package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caarlos0/env/v11"
	"gopkg.in/yaml.v3"

	httpapi "focal/adapters/http"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/adapters/mongo"
	"focal/adapters/observe"
	"focal/adapters/postgres"
	"focal/adapters/sqlite"
	"focal/adapters/tools"
	"focal/application"
	"focal/domain"
)

// Config is the whole service configuration. Every field is read from an
// environment variable FOCAL_<NAME>, optionally on top of a YAML file; the
// README lists them all with their defaults.
type Config struct {
	HTTP        httpapi.Config                `yaml:"http"`
	Auth        httpapi.AuthConfig            `yaml:"auth"`
	RateLimit   httpapi.RateLimitConfig       `yaml:"rate_limit"`
	Idempotency application.IdempotencyConfig `yaml:"idempotency"`
	Log         LogConfig                     `yaml:"log"`
	Store       StoreConfig                   `yaml:"store"`
	LLM         llm.Config                    `yaml:"llm"`
	Tools       tools.Config                  `yaml:"tools"`
	Chat        ChatConfig                    `yaml:"chat"`
	Policy      PolicyConfig                  `yaml:"policy"`
	Startup     StartupConfig                 `yaml:"startup"`
	Tracing     observe.TracingConfig         `yaml:"tracing"`
	Debug       DebugConfig                   `yaml:"debug"`
	Tenants     TenantConfig                  `yaml:"tenants"`
	Runtime     RuntimeConfig                 `yaml:"runtime"`
}

// LogConfig controls logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `env:"LOG_LEVEL" envDefault:"info" yaml:"level"`
	// Format is json (for machines) or console (for people).
	Format string `env:"LOG_FORMAT" envDefault:"json" yaml:"format"`
}

// StoreConfig selects and configures storage.
type StoreConfig struct {
	// Kind is memory, sqlite, postgres or mongo.
	Kind     string           `env:"STORE" envDefault:"memory" yaml:"kind"`
	Mongo    mongo.Config     `yaml:"mongo"`
	Postgres postgres.Config  `yaml:"postgres"`
	SQLite   sqlite.Config    `yaml:"sqlite"`
	Memory   memory.Retention `yaml:"memory"`
}

// Validate checks the selected store's settings.
func (c StoreConfig) Validate() error {
	switch c.Kind {
	case "memory":
		return c.Memory.Validate()
	case "mongo":
		return c.Mongo.Validate()
	case "postgres":
		return c.Postgres.Validate()
	case "sqlite":
		return c.SQLite.Validate()
	}
	return fmt.Errorf("FOCAL_STORE=%q is not supported: use memory, sqlite, postgres or mongo", c.Kind)
}

// ChatConfig tunes turn processing.
type ChatConfig struct {
	// SessionIdleTTL closes sessions idle longer than this.
	SessionIdleTTL time.Duration `env:"SESSION_IDLE_TTL" envDefault:"24h" yaml:"session_idle_ttl"`
	// SessionLockWait is how long a message waits for its busy session.
	SessionLockWait time.Duration `env:"SESSION_LOCK_WAIT" envDefault:"30s" yaml:"session_lock_wait"`
	// TurnTimeout bounds one turn.
	TurnTimeout time.Duration `env:"TURN_TIMEOUT" envDefault:"60s" yaml:"turn_timeout"`
	// PolicyRefresh is how stale a cached agent policy may be.
	PolicyRefresh time.Duration `env:"POLICY_REFRESH" envDefault:"1s" yaml:"policy_refresh"`
}

// application returns the use case's configuration: a lease is renewed
// while its turn runs, so a session whose holder died is free again
// within leaseTTL.
const leaseTTL = 15 * time.Second

func (c ChatConfig) application() application.ChatConfig {
	return application.ChatConfig{
		SessionIdleTTL: c.SessionIdleTTL,
		LockWait:       c.SessionLockWait,
		LeaseTTL:       leaseTTL,
		TurnTimeout:    c.TurnTimeout,
		CommitTimeout:  5 * time.Second,
	}
}

// PolicyConfig bounds what tenants' policies may hold.
type PolicyConfig struct {
	// Limits overrides policy limits by name ("rules=20000,tools=100");
	// the others keep their defaults (docs/operations.md lists them).
	Limits map[string]int `env:"POLICY_LIMITS" envKeyValSeparator:"=" yaml:"limits"`
}

// PolicyLimits returns the policy limits in force.
func (c PolicyConfig) PolicyLimits() (domain.PolicyLimits, error) {
	l, err := domain.DefaultPolicyLimits().With(c.Limits)
	if err != nil {
		return l, fmt.Errorf("FOCAL_POLICY_LIMITS: %w", err)
	}
	return l, nil
}

// StartupConfig names data loaded when the service starts.
type StartupConfig struct {
	// Bundle is the path of an agent bundle imported at start-up.
	Bundle string `env:"BOOTSTRAP_BUNDLE" yaml:"bundle"`
	// Tenant owns the bundle's agent; empty takes the bundle's agent.tenant_id.
	Tenant string `env:"BOOTSTRAP_TENANT" yaml:"tenant"`
}

// LoadConfig reads the YAML file at path (if path is not empty), then the
// FOCAL_* environment on top, and validates the result.
func LoadConfig(path string) (Config, error) {
	return LoadConfigEnv(path, nil)
}

// LoadConfigEnv is LoadConfig with an explicit environment instead of the
// process's (nil means the process's); tests use it.
func LoadConfigEnv(path string, environ map[string]string) (Config, error) {
	cfg, err := readConfig(path, environ)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// ReadConfig is LoadConfig without validating the whole, for a command
// that works offline on a part of the service's configuration (focal lint
// reads the policy limits and the tools' allow-list): it validates the
// parts it uses and needs nothing else set, a token secret or a store.
func ReadConfig(path string) (Config, error) {
	return readConfig(path, nil)
}

// readConfig is LoadConfigEnv without the validation: the defaults
// (envDefault), then the file's values over them, then the FOCAL_*
// variables that are set over both. Each pass sets only what it has, so a
// file's explicit false or 0 is kept against a default, and a variable
// wins over the file, as LoadConfig says.
func readConfig(path string, environ map[string]string) (Config, error) {
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: "FOCAL_", Environment: map[string]string{}}); err != nil {
		return cfg, fmt.Errorf("configuration defaults: %w", err)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	// No default tag is read in this pass: a variable not set leaves what
	// the passes before gave.
	opts := env.Options{Prefix: "FOCAL_", Environment: environ, DefaultValueTagName: "focalNoDefault"}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// Validate checks every part and reports all problems at once.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, c.HTTP.Validate(), c.Auth.Validate(), c.RateLimit.Validate(), c.Tracing.Validate())
	if c.Idempotency.TTL < time.Minute || c.Idempotency.Wait < 0 {
		errs = append(errs, errors.New("FOCAL_IDEMPOTENCY_TTL must be at least 1m and FOCAL_IDEMPOTENCY_WAIT not negative"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, errors.New("FOCAL_LOG_LEVEL must be debug, info, warn or error"))
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		errs = append(errs, errors.New("FOCAL_LOG_FORMAT must be json or console"))
	}
	errs = append(errs, c.Store.Validate(), c.LLM.Validate(), c.Tools.Validate(), c.Tenants.Validate(), c.Runtime.Validate())
	if c.Chat.PolicyRefresh < 0 || c.Chat.PolicyRefresh > time.Minute {
		errs = append(errs, errors.New("FOCAL_POLICY_REFRESH must be 0..1m"))
	}
	if err := c.Chat.application().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("chat settings: %w", err))
	}
	if _, err := c.Policy.PolicyLimits(); err != nil {
		errs = append(errs, err)
	}
	if c.Startup.Tenant != "" && !application.IsUUID(c.Startup.Tenant) {
		errs = append(errs, errors.New("FOCAL_BOOTSTRAP_TENANT must be a UUID"))
	}
	return errors.Join(errs...)
}
