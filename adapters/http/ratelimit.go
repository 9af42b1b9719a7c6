package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/domain"
	"focal/ports"
)

// RateLimitConfig sets per-tenant request limits (docs/api.md, "Rate
// limits").
type RateLimitConfig struct {
	// Free, Pro and Enterprise are requests per window for each tier.
	Free       int `env:"RATE_LIMIT_FREE" envDefault:"60" yaml:"free"`
	Pro        int `env:"RATE_LIMIT_PRO" envDefault:"600" yaml:"pro"`
	Enterprise int `env:"RATE_LIMIT_ENTERPRISE" envDefault:"6000" yaml:"enterprise"`
	// Window is the period the limits count over.
	Window time.Duration `env:"RATE_LIMIT_WINDOW" envDefault:"1m" yaml:"window"`
	// Tenants overrides the limit of single tenants: "uuid=limit,uuid=limit".
	Tenants map[string]int `env:"RATE_LIMIT_TENANTS" envKeyValSeparator:"=" yaml:"tenants"`
	// MaxOpenStreams caps the streams one tenant holds open on one instance.
	MaxOpenStreams int `env:"MAX_OPEN_STREAMS_PER_TENANT" envDefault:"100" yaml:"max_open_streams"`
	// MaxInflightTurns caps the plain chat requests one tenant has running
	// on one instance (its streams are capped by MaxOpenStreams).
	MaxInflightTurns int `env:"MAX_INFLIGHT_TURNS_PER_TENANT" envDefault:"128" yaml:"max_inflight_turns"`
}

// Validate checks the limits.
func (c RateLimitConfig) Validate() error {
	if c.Free < 1 || c.Pro < 1 || c.Enterprise < 1 {
		return errors.New("rate limits must be at least 1")
	}
	if c.Window < time.Second {
		return errors.New("FOCAL_RATE_LIMIT_WINDOW must be at least 1s")
	}
	for t, n := range c.Tenants {
		if n < 1 {
			return fmt.Errorf("FOCAL_RATE_LIMIT_TENANTS: limit of %s must be at least 1", t)
		}
	}
	if c.MaxOpenStreams < 1 {
		return errors.New("FOCAL_MAX_OPEN_STREAMS_PER_TENANT must be at least 1")
	}
	if c.MaxInflightTurns < 1 {
		return errors.New("FOCAL_MAX_INFLIGHT_TURNS_PER_TENANT must be at least 1")
	}
	return nil
}

// RateLimits enforces request limits per tenant and caps on its open
// streams and turns in flight.
type RateLimits struct {
	cfg     RateLimitConfig
	limiter ports.RateLimiter
	clock   ports.Clock
	streams *tenantCounter
	turns   *tenantCounter
	// limit is the X-RateLimit-Limit value last written: a tenant's
	// limit is the same on every request.
	limit atomic.Pointer[limitText]
}

// limitText is a limit and its text.
type limitText struct {
	limit int
	text  string
}

// limitText is the text of limit, formatted again only when the limit is
// not the one last asked for.
func (r *RateLimits) limitText(limit int) string {
	if t := r.limit.Load(); t != nil && t.limit == limit {
		return t.text
	}
	t := &limitText{limit: limit, text: strconv.Itoa(limit)}
	r.limit.Store(t)
	return t.text
}

// NewRateLimits returns the limits over limiter; clock tells the time the
// X-RateLimit-Reset header counts from, the limiter's own.
func NewRateLimits(cfg RateLimitConfig, limiter ports.RateLimiter, clock ports.Clock) *RateLimits {
	return &RateLimits{cfg: cfg, limiter: limiter, clock: clock,
		streams: newTenantCounter(), turns: newTenantCounter()}
}

// tenantCounter counts what each tenant holds now. A request finds its
// tenant's count without a lock, in a map that is copied when a tenant
// joins it, and counts itself in and out with one atomic operation each:
// the one mutex over one map, taken twice a request, and the map written
// twice, were lines every core's requests bounced between them. A tenant
// holding nothing keeps its entry (re-adding it would copy the map) until
// the map has doubled since it was last pruned, and the prune drops every
// entry holding nothing then: the map is at most about twice as big as
// the tenants active.
type tenantCounter struct {
	counts atomic.Pointer[map[string]*tenantCount]
	mu     sync.Mutex // serialises changes of counts
	// pruneAt is the size past which a tenant joining prunes the map.
	pruneAt int
}

// minPruneAt is the size below which the map is never pruned.
const minPruneAt = 64

// tenantCount is what one tenant holds now; retired (pruned from the map)
// once it is -1, and never counted in again.
type tenantCount struct{ n atomic.Int64 }

const retiredCount = -1

func newTenantCounter() *tenantCounter {
	t := &tenantCounter{pruneAt: minPruneAt}
	t.counts.Store(&map[string]*tenantCount{})
	return t
}

// take counts one more for tenant unless it holds max already: the count
// to release when done, or nil.
func (t *tenantCounter) take(tenant string, max int) *tenantCount {
	c := (*t.counts.Load())[tenant]
	if c == nil {
		c = t.join(tenant)
	}
	for {
		switch n := c.n.Load(); {
		case n == retiredCount:
			// A prune retired it: join again, which waits for the prune to
			// replace the map (a map read under mu holds no retired count).
			c = t.join(tenant)
		case n >= int64(max):
			return nil
		case c.n.CompareAndSwap(n, n+1):
			return c
		}
	}
}

// release counts one less for the tenant whose count take returned.
func (t *tenantCounter) release(c *tenantCount) { c.n.Add(-1) }

// join adds tenant to the map, pruning it first when it has doubled, and
// returns its count.
func (t *tenantCounter) join(tenant string) *tenantCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.counts.Load()
	if c := old[tenant]; c != nil {
		return c
	}
	m := make(map[string]*tenantCount, len(old)+1)
	for k, c := range old {
		if len(old) < t.pruneAt || !c.n.CompareAndSwap(0, retiredCount) {
			m[k] = c
		}
	}
	if len(old) >= t.pruneAt {
		t.pruneAt = max(minPruneAt, 2*len(m))
	}
	c := &tenantCount{}
	m[tenant] = c
	t.counts.Store(&m)
	return c
}

// holding is what tenant holds now, and whether it has an entry.
func (t *tenantCounter) holding(tenant string) (int, bool) {
	c := (*t.counts.Load())[tenant]
	if c == nil {
		return 0, false
	}
	return int(c.n.Load()), true
}

func (r *RateLimits) limitOf(p Principal) int {
	if n, ok := r.cfg.Tenants[p.TenantID]; ok {
		return n
	}
	switch p.Tier {
	case TierEnterprise:
		return r.cfg.Enterprise
	case TierPro:
		return r.cfg.Pro
	}
	return r.cfg.Free
}

// requests counts every authenticated request and sets the X-RateLimit-*
// headers on its response; over the limit it answers 429 with Retry-After.
// When the limiter itself fails the request passes: an unreachable store
// should not make the whole API refuse service.
func (r *RateLimits) requests(c *gin.Context) {
	if r.admit(c) {
		c.Next()
	}
}

// admit takes one request from the tenant's rate and sets the rate
// headers; over the rate it answers 429 and reports false. A function of
// its own so that its frame is off the stack under the handler, where a
// streaming turn waits for the model.
func (r *RateLimits) admit(c *gin.Context) bool {
	p := principal(c)
	d, err := r.limiter.TakeRate(c.Request.Context(), p.rateLimitKey(), r.limitOf(p), r.cfg.Window)
	if err != nil {
		logctx.From(c.Request.Context(), zap.NewNop()).Warn("rate limiter unavailable; request allowed", zap.Error(err))
		return true
	}
	var values *rateHeaders
	if st := stateOf(c); st != nil {
		values = &st.rateHeaders
	} else {
		values = new(rateHeaders) // a router without requestEntry (tests)
	}
	setRateHeaders(c.Writer.Header(), values, r.limitText(d.Limit), d.Remaining, int(math.Ceil(d.Reset.Sub(r.decidedAt(d)).Seconds())))
	if !d.Allowed {
		writeError(c, &domain.Error{Code: domain.CodeRateLimitExceeded,
			Message:    fmt.Sprintf("rate limit of %d requests per %s exceeded", d.Limit, r.cfg.Window),
			RetryAfter: max(d.RetryAfter, time.Second)})
		return false
	}
	return true
}

// decidedAt is when the limiter made decision d, by its clock, which the
// reset counts from: its own reading when it says (the memory limiter's),
// else the clock's now, a reading more (about 100 ns here).
func (r *RateLimits) decidedAt(d ports.RateDecision) time.Time {
	if !d.At.IsZero() {
		return d.At
	}
	return r.clock.Now()
}

// rateHeaders are a request's X-RateLimit-* header values: the limit's
// text (RateLimits.limitText's, shared), the other two numbers' text and
// the values cut from it. They are set once, by setRateHeaders, and never
// written again: the headers' strings (and net/http's copy of the
// headers) share text.
type rateHeaders struct {
	values [3]string
	// text holds the two numbers, each at most 20 bytes (an int64).
	text [2 * 20]byte
}

// setRateHeaders sets the X-RateLimit-* headers, as Header.Set would,
// without an allocation where six were: the limit's text is limit, the
// other two numbers are written into r's text, which their values share,
// and the values are held in r (the request's state).
func setRateHeaders(h http.Header, r *rateHeaders, limit string, remaining, reset int) {
	b := strconv.AppendInt(r.text[:0], int64(remaining), 10)
	n := len(b)
	b = strconv.AppendInt(b, int64(reset), 10)
	// b is r.text's (two numbers fit), which is never written again; and
	// were it ever a copy grown apart, that copy is b's alone: either way
	// nothing changes the bytes under the string.
	text := unsafe.String(unsafe.SliceData(b), len(b))
	r.values = [3]string{limit, text[:n], text[n:]}
	h[headerRateLimitLimit] = r.values[0:1:1]
	h[headerRateLimitRemaining] = r.values[1:2:2]
	h[headerRateLimitReset] = r.values[2:3:3]
}

// openStreams caps the streams a tenant holds open at once.
func (r *RateLimits) openStreams(c *gin.Context) {
	r.hold(c, r.streams, r.cfg.MaxOpenStreams, "streams may be open")
}

// inflightTurns caps the plain chat requests a tenant has running at once,
// so one tenant's slow or costly turns leave room for everyone else's;
// streaming turns are held by openStreams.
func (r *RateLimits) inflightTurns(c *gin.Context) {
	r.hold(c, r.turns, r.cfg.MaxInflightTurns, "chat requests may run")
}

// hold runs the rest of the request counted in counter, or answers 429
// when the tenant already holds max.
func (r *RateLimits) hold(c *gin.Context, counter *tenantCounter, max int, what string) {
	held := counter.take(principal(c).TenantID, max)
	if held == nil {
		writeError(c, &domain.Error{Code: domain.CodeRateLimitExceeded,
			Message: fmt.Sprintf("at most %d %s at once", max, what), RetryAfter: time.Second})
		return
	}
	defer counter.release(held)
	c.Next()
}
