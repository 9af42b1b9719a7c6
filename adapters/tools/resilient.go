package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

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
	// MaxBreakers bounds the breakers kept (one per tenant, agent and
	// tool); the least recently used is forgotten, which closes it.
	MaxBreakers int `env:"TOOLS_MAX_BREAKERS" envDefault:"10000" yaml:"max_breakers"`
	// AllowedHosts may be reached whatever their address ("host" or
	// "host:port"); every other tool host must resolve to public addresses.
	AllowedHosts []string `env:"TOOLS_ALLOWED_HOSTS" yaml:"allowed_hosts"`
	// MaxOutputBytes bounds a tool's answer, MaxOutputKeys its variables
	// and MaxValueBytes each variable's JSON.
	MaxOutputBytes int `env:"TOOLS_MAX_OUTPUT_BYTES" envDefault:"65536" yaml:"max_output_bytes"`
	MaxOutputKeys  int `env:"TOOLS_MAX_OUTPUT_KEYS" envDefault:"32" yaml:"max_output_keys"`
	MaxValueBytes  int `env:"TOOLS_MAX_VALUE_BYTES" envDefault:"4096" yaml:"max_value_bytes"`
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
	if c.MaxBreakers < 1 {
		errs = append(errs, errors.New("FOCAL_TOOLS_MAX_BREAKERS must be at least 1"))
	}
	if _, err := newAllowList(c.AllowedHosts); err != nil {
		errs = append(errs, err)
	}
	if c.MaxOutputBytes < 1024 || c.MaxOutputBytes > 16<<20 {
		errs = append(errs, errors.New("FOCAL_TOOLS_MAX_OUTPUT_BYTES must be 1 KiB..16 MiB"))
	}
	if c.MaxOutputKeys < 1 || c.MaxValueBytes < 16 || c.MaxValueBytes > c.MaxOutputBytes {
		errs = append(errs, errors.New("FOCAL_TOOLS_MAX_OUTPUT_KEYS must be at least 1 and FOCAL_TOOLS_MAX_VALUE_BYTES 16..FOCAL_TOOLS_MAX_OUTPUT_BYTES"))
	}
	return errors.Join(errs...)
}

// Resilient calls tools through a resilience Guard: one breaker per tenant,
// agent and tool (tool ids are chosen per agent, so no tenant's failing
// tool can switch off another's of the same id and host), retries for
// retryable failures. Errors keep the invoker's codes (TIMEOUT,
// INTERNAL_ERROR) and its "tool X failed: ..." shape; an open breaker is
// INTERNAL_ERROR with RetryAfter set to its remaining open time.
type Resilient struct {
	inner ports.ToolInvoker
	guard *resilience.Guard
}

var _ ports.ToolInvoker = (*Resilient)(nil)

// NewResilient guards inner (usually a *Webhook) with cfg; obs nil is a
// no-op observer, clock nil the machine's clock (see resilience.NewGuard).
func NewResilient(inner ports.ToolInvoker, cfg Config, obs resilience.Observer, clock clockwork.Clock) *Resilient {
	return &Resilient{inner: inner, guard: resilience.NewGuard(resilience.Config{
		MaxRetries:      cfg.MaxRetries,
		RetryBase:       cfg.RetryBase,
		RetryMax:        cfg.RetryMax,
		BreakerFailures: uint32(max(cfg.BreakerFailures, 1)),
		BreakerOpen:     cfg.BreakerOpen,
		UnavailableCode: domain.CodeInternal,
		MaxBreakers:     cfg.MaxBreakers,
	}, obs, clock)}
}

// InvokeTool implements ports.ToolInvoker.
func (r *Resilient) InvokeTool(ctx context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	var out map[string]any
	err := r.guard.Run(ctx, breakerName(in.TenantID, in.AgentID, tool.ID), func(actx context.Context) error {
		var err error
		out, err = r.inner.InvokeTool(actx, tool, in)
		return err
	})
	var de *domain.Error
	if err != nil && errors.As(err, &de) && !strings.HasPrefix(de.Message, "tool "+tool.ID+" failed: ") {
		// The Guard refused the call (or its retry) itself: say so in the
		// tool's words, without the breaker's name.
		category := "switched off for a while after repeated failures"
		if ctx.Err() != nil {
			category = "timed out"
		}
		return nil, &domain.Error{Code: de.Code, Message: fmt.Sprintf("tool %s failed: %s", tool.ID, category), RetryAfter: de.RetryAfter, Cause: err}
	}
	return out, err
}

// BreakerState reports the breaker state of a tenant's agent's tool, for
// health checks and tests.
func (r *Resilient) BreakerState(tenantID, agentID, toolID string) string {
	return r.guard.BreakerState(breakerName(tenantID, agentID, toolID))
}

// breakerName is "tool <tenant>/<agent>/<tool>": never the URL, which
// often carries tokens.
func breakerName(tenantID, agentID, toolID string) string {
	return "tool " + tenantID + "/" + agentID + "/" + toolID
}
