package tools

import (
	"context"
	"errors"
	"net/url"
	"time"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
)

// Config is the resilience policy for tool calls. A call's deadline is the
// tool's own timeout, set by the engine on the context; retries happen
// within it.
type Config struct {
	// MaxRetries is how often a retryable failure (connection refused or
	// reset, 408, 409, 429, 5xx) is tried again.
	MaxRetries int `env:"TOOLS_MAX_RETRIES" envDefault:"1" yaml:"max_retries"`
	// RetryBase is the first backoff, doubled per retry with jitter, capped
	// by RetryMax; a longer Retry-After from the tool wins.
	RetryBase time.Duration `env:"TOOLS_RETRY_BASE" envDefault:"100ms" yaml:"retry_base"`
	RetryMax  time.Duration `env:"TOOLS_RETRY_MAX" envDefault:"1s" yaml:"retry_max"`
	// BreakerFailures consecutive failures open a tool's breaker.
	BreakerFailures int `env:"TOOLS_BREAKER_FAILURES" envDefault:"5" yaml:"breaker_failures"`
	// BreakerOpen is how long an open breaker refuses calls to the tool.
	BreakerOpen time.Duration `env:"TOOLS_BREAKER_OPEN" envDefault:"30s" yaml:"breaker_open"`
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRetries < 0 || c.MaxRetries > 5 {
		errs = append(errs, errors.New("FOCAL_TOOLS_MAX_RETRIES must be 0..5"))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("FOCAL_TOOLS_RETRY_BASE must be positive and FOCAL_TOOLS_RETRY_MAX at least as long"))
	}
	if c.BreakerFailures < 1 {
		errs = append(errs, errors.New("FOCAL_TOOLS_BREAKER_FAILURES must be at least 1"))
	}
	if c.BreakerOpen <= 0 {
		errs = append(errs, errors.New("FOCAL_TOOLS_BREAKER_OPEN must be positive"))
	}
	return errors.Join(errs...)
}

// Resilient calls tools through a resilience Guard: one breaker per tool
// (its id and host: ids are chosen per agent, so two tenants' "weather"
// tools on different services must not share one), retries for retryable
// failures. Errors keep the invoker's codes
// (TIMEOUT, INTERNAL_ERROR); an open breaker is INTERNAL_ERROR with
// RetryAfter set to its remaining open time.
type Resilient struct {
	inner ports.ToolInvoker
	guard *resilience.Guard
}

var _ ports.ToolInvoker = (*Resilient)(nil)

// NewResilient guards inner (usually a *Webhook) with cfg; obs nil is a
// no-op observer.
func NewResilient(inner ports.ToolInvoker, cfg Config, obs resilience.Observer) *Resilient {
	return &Resilient{inner: inner, guard: resilience.NewGuard(resilience.Config{
		MaxRetries:      cfg.MaxRetries,
		RetryBase:       cfg.RetryBase,
		RetryMax:        cfg.RetryMax,
		BreakerFailures: uint32(max(cfg.BreakerFailures, 1)),
		BreakerOpen:     cfg.BreakerOpen,
		UnavailableCode: domain.CodeInternal,
	}, obs)}
}

// InvokeTool implements ports.ToolInvoker.
func (r *Resilient) InvokeTool(ctx context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	var out map[string]any
	err := r.guard.Run(ctx, breakerName(tool), func(actx context.Context) error {
		var err error
		out, err = r.inner.InvokeTool(actx, tool, in)
		return err
	})
	return out, err
}

// BreakerState reports a tool's breaker state, for health checks and tests.
func (r *Resilient) BreakerState(tool domain.Tool) string {
	return r.guard.BreakerState(breakerName(tool))
}

// breakerName is "tool <id>@<host>"; the rest of the URL stays out because
// webhook URLs often carry tokens.
func breakerName(tool domain.Tool) string {
	name := "tool " + tool.ID
	if u, err := url.Parse(tool.URL); err == nil && u.Host != "" {
		name += "@" + u.Host
	}
	return name
}
