package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jonboulle/clockwork"

	"focal/domain"
)

// Config is the policy of one Guard.
type Config struct {
	// FirstTokenTimeout cancels a streaming attempt that passed on nothing
	// in this time (0: no watchdog). Unary calls ignore it.
	FirstTokenTimeout time.Duration
	// AttemptTimeout bounds each attempt (0: only the caller's deadline).
	AttemptTimeout time.Duration
	// MaxRetries is how many times a retryable failure is tried again.
	MaxRetries int
	// RetryBase is the first backoff; each retry doubles it, with ±50%
	// jitter, up to RetryMax.
	RetryBase time.Duration
	RetryMax  time.Duration
	// BreakerFailures consecutive failures open a breaker (default 5).
	BreakerFailures uint32
	// BreakerOpen is how long an open breaker refuses calls before letting
	// one probe through (default 30s).
	BreakerOpen time.Duration
	// UnavailableCode is the code of the errors the Guard makes itself
	// (breaker open, its own timeouts): LLM_UNAVAILABLE for models.
	UnavailableCode domain.ErrorCode
	// MaxBreakers bounds the breakers kept (default 10,000); the least
	// recently used is forgotten first, which closes it.
	MaxBreakers int
}

func (c Config) withDefaults() Config {
	if c.BreakerFailures == 0 {
		c.BreakerFailures = 5
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = 30 * time.Second
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 250 * time.Millisecond
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(c.RetryBase, 5*time.Second)
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.UnavailableCode == "" {
		c.UnavailableCode = domain.CodeLLMUnavailable
	}
	if c.MaxBreakers <= 0 {
		c.MaxBreakers = 10_000
	}
	return c
}

// Guard runs calls to a family of dependencies, each under its own lazily
// created circuit breaker, with the Config's deadlines and retry policy.
// Safe for concurrent use.
type Guard struct {
	cfg   Config
	obs   Observer
	clock clockwork.Clock

	mu       sync.Mutex
	breakers *simplelru.LRU[string, *breaker]
	// evicted is the breaker the last Add pushed out, reported once the
	// lock is released.
	evicted *breaker
}

// NewGuard returns a Guard; obs nil means NopObserver. clock measures the
// retry waits, the first-token watchdog, the attempt timeout and the
// breakers' open intervals; nil is the machine's clock. (The attempt
// timeout cancels the attempt's context; it sets no deadline on it.)
func NewGuard(cfg Config, obs Observer, clock clockwork.Clock) *Guard {
	if obs == nil {
		obs = NopObserver{}
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	g := &Guard{cfg: cfg.withDefaults(), obs: obs, clock: clock}
	g.breakers, _ = simplelru.NewLRU(g.cfg.MaxBreakers, func(_ string, b *breaker) { g.evicted = b })
	return g
}

// Run calls call under name's breaker, retrying retryable failures. name
// identifies the dependency ("openai/gpt-4o-mini", "tool weather") and
// appears in error messages.
func (g *Guard) Run(ctx context.Context, name string, call func(ctx context.Context) error) error {
	return g.run(ctx, name, false, func(ctx context.Context, _ func() error) error { return call(ctx) })
}

// RunStream is Run for a streaming call. The call must invoke begin before
// passing its first piece of output on, and stop if begin returns an error
// (the first-token watchdog fired first). Once begin succeeded the call is
// never retried: its consumer already has output.
func (g *Guard) RunStream(ctx context.Context, name string, call func(ctx context.Context, begin func() error) error) error {
	return g.run(ctx, name, true, call)
}

func (g *Guard) run(ctx context.Context, name string, stream bool, call func(context.Context, func() error) error) error {
	if err := ctx.Err(); err != nil {
		// Not the dependency's business: the breaker never hears of it.
		return &domain.Error{Code: g.cfg.UnavailableCode, Message: name + " was not called: the caller gave up", Cause: err}
	}
	b := g.breaker(name)
	bo := &backoff.ExponentialBackOff{
		InitialInterval: g.cfg.RetryBase, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: g.cfg.RetryMax,
	}
	bo.Reset()
	for retry := 0; ; retry++ {
		done, err := b.allow()
		if err != nil {
			return g.rejected(name, b, err)
		}
		began, err := g.attempt(ctx, name, stream, call)
		class := g.classify(ctx, err)
		if err != nil {
			done(&judged{err: err, class: class})
		} else {
			done(nil)
		}
		if err == nil || began || !class.Retryable || retry >= g.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		wait := max(bo.NextBackOff(), class.RetryAfter)
		// The caller's deadline is on the machine's clock, as every
		// context's is.
		if deadline, ok := ctx.Deadline(); ok && wait > time.Until(deadline) {
			return err // the wait alone would outlive the caller
		}
		g.obs.Retry(name, retry+1, wait, err)
		if !g.sleep(ctx, wait) {
			return err
		}
	}
}

// classify refines Classify with what only the Guard knows: whether the
// caller's context ended (never retried; cancelled means nobody's fault).
func (g *Guard) classify(ctx context.Context, err error) Class {
	c := Classify(err)
	if err == nil || ctx.Err() == nil {
		return c
	}
	c.Retryable = false
	if errors.Is(ctx.Err(), context.Canceled) {
		c.Cancelled, c.Counts = true, Ignored
	}
	return c
}

// attempt runs call once under the attempt deadline and, for streams, the
// first-token watchdog. It reports whether output began to flow.
func (g *Guard) attempt(ctx context.Context, name string, stream bool, call func(context.Context, func() error) error) (bool, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if g.cfg.AttemptTimeout > 0 {
		// On the Guard's clock, as the watchdog is, rather than a context
		// deadline on the machine's: a test moving a fake clock then decides
		// which of the two ends a stalled attempt.
		deadline := g.clock.AfterFunc(g.cfg.AttemptTimeout, func() { cancel(ErrAttemptTimeout) })
		defer deadline.Stop()
	}
	var ft firstToken
	if stream && g.cfg.FirstTokenTimeout > 0 {
		ft.timer = g.clock.AfterFunc(g.cfg.FirstTokenTimeout, func() {
			if ft.state.CompareAndSwap(waiting, expired) {
				cancel(ErrFirstTokenTimeout)
			}
		})
	}
	err := call(actx, ft.begin)
	if ft.timer != nil {
		ft.timer.Stop() // a verdict reached now must not be relabelled a timeout
	}
	began := ft.state.Load() == streaming
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = g.ownTimeout(name, context.Cause(actx), err)
	}
	return began, err
}

// ownTimeout describes an attempt the Guard itself cut short.
func (g *Guard) ownTimeout(name string, cause, err error) error {
	msg := fmt.Sprintf("%s did not answer within %s", name, g.cfg.AttemptTimeout)
	if errors.Is(cause, ErrFirstTokenTimeout) {
		msg = fmt.Sprintf("%s sent no token within %s", name, g.cfg.FirstTokenTimeout)
	}
	return &domain.Error{Code: g.cfg.UnavailableCode, Message: msg, Cause: errors.Join(cause, err)}
}

// Stream states of an attempt, moved by firstToken.
const (
	waiting int32 = iota
	streaming
	expired
)

// firstToken is the race between an attempt's first output and its
// watchdog; whichever moves state first wins, so a delta is never passed on
// by an attempt that is being cancelled as silent.
type firstToken struct {
	state atomic.Int32
	timer clockwork.Timer
}

func (f *firstToken) begin() error {
	if f.state.Load() == streaming {
		return nil
	}
	if f.state.CompareAndSwap(waiting, streaming) {
		if f.timer != nil {
			f.timer.Stop()
		}
		return nil
	}
	return ErrFirstTokenTimeout
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func (g *Guard) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := g.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	}
}
