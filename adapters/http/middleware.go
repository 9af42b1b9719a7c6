package httpapi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// keyErrorCode is the context key of an error reply's code.
const keyErrorCode = "focal.error_code"

// requestState is what the middleware keeps for one request, in one
// allocation: its id, its caller once authenticated, its log fields and
// the request context that carries it.
type requestState struct {
	id string
	// start is when the request began, a clock.Mono reading: the one
	// reading its deadlines and its timing (RequestStart) share.
	start time.Duration
	// idHeader is the X-Request-ID header's value list, held here.
	idHeader [1]string
	// principal is the caller once authenticated: the verified token's
	// own, shared by its requests and never changed.
	principal *Principal
	// rateHeaders are the X-RateLimit-* headers' values, held here.
	rateHeaders rateHeaders
	log         logctx.Fields
	ctx         stateContext
	// deadlines are the request's writer wrapper (see requestEntry),
	// held here.
	deadlines requestDeadlines
	// req is the request as handlers see it, with ctx as its context
	// (bindState), held here.
	req http.Request
}

// stateContext is a request's context carrying its state. The state rides
// on the context rather than in gin's keys: setting the first key makes
// the request a map, and every lookup there takes a lock.
type stateContext struct {
	context.Context
	st *requestState
}

// stateKey is the context key of a request's state.
type stateKey struct{}

// Value is the request's state under stateKey, else the parent's value.
func (c *stateContext) Value(k any) any {
	if k == (stateKey{}) {
		return c.st
	}
	return c.Context.Value(k)
}

// bindState makes st the request's state, carried by its context. The
// request with that context is copied into st, not into an allocation of
// its own as WithContext makes it: WithContext is inlined here, and the
// copy it makes stays in this frame.
func bindState(c *gin.Context, st *requestState, ctx context.Context) {
	st.ctx = stateContext{Context: ctx, st: st}
	st.req = *c.Request.WithContext(&st.ctx)
	c.Request = &st.req
}

// stateOf is the request's state, or nil before requestEntry ran. The
// request's context is most often the state's own (unless a span or an
// idempotent run wraps it), which is found without asking the context
// chain for its value: a request looks its state up about ten times.
func stateOf(c *gin.Context) *requestState {
	ctx := c.Request.Context()
	if sc, ok := ctx.(*stateContext); ok {
		return sc.st
	}
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// Header names written in their canonical form (as net/http sends them),
// so setting or reading one on every request does not allocate its
// canonical spelling again.
const (
	headerRequestID          = "X-Request-Id" // X-Request-ID
	headerRateLimitLimit     = "X-Ratelimit-Limit"
	headerRateLimitRemaining = "X-Ratelimit-Remaining"
	headerRateLimitReset     = "X-Ratelimit-Reset"
)

// Request headers read on every chat turn, in canonical form.
const (
	headerAuthorization  = "Authorization"
	headerContentType    = "Content-Type"
	headerIdempotencyKey = "Idempotency-Key"
)

// headerValue is h.Get(key) for a key in canonical form, which it looks up
// directly: Get checks and canonicalises its key on every call.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// saneRequestID reports whether a client-sent X-Request-ID looks as it
// must to be kept: short, printable, no separators that could forge log
// fields; /^[A-Za-z0-9._:-]{1,128}$/, checked byte by byte: a client's id
// is checked on each of its requests, which the regular expression did in
// about 1.5 µs (a UUID), this in 35 ns. A request without the header has
// "" and fails at once.
func saneRequestID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !requestIDByte[id[i]] {
			return false
		}
	}
	return true
}

// requestIDByte is, by byte, whether a request id may hold it.
var requestIDByte = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
	}
	return t
}()

// requestEntry is the first handler of every request: it sets the
// connection's deadlines (see deadlines), assigns the request id, puts a
// request logger into the context and writes one access log line when the
// request ends. One handler with one allocation: the request's state
// holds the deadlines' wrappers. When the log's level leaves access lines
// out, the request is not timed for one either: its two clock reads and
// the line's fields were 0.6 % of a turn's CPU in a load run's profile.
func requestEntry(cfg Config, log *zap.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		st := &requestState{start: clock.Mono()}
		st.deadlines.wrap(c, cfg, st.start)
		defer st.deadlines.writer.finish()
		st.begin(c, log)
		if !log.Core().Enabled(zap.InfoLevel) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		accessLog(c, &st.log, start)
	}
}

// begin makes st the request's state: it assigns the request id and puts
// a request logger into the context.
func (st *requestState) begin(c *gin.Context, log *zap.Logger) {
	id := headerValue(c.Request.Header, headerRequestID)
	if !saneRequestID(id) {
		id = newRequestID()
	}
	st.id, st.idHeader = id, [1]string{id}
	c.Writer.Header()[headerRequestID] = st.idHeader[:]
	bindState(c, st, st.log.Bind(c.Request.Context(), log, zap.String("request_id", id)))
}

// newRequestID is a random (version 4) UUID, as uuid.NewString makes it,
// made in this frame: uuid.NewString reads through an io.Reader, which
// puts each UUID's bytes on the heap. Its bits come from math/rand/v2's
// generator (ChaCha8, seeded from the system's entropy), not crypto/rand:
// an id names a request in logs and replies and guards nothing, and
// crypto/rand took 0.3 to 0.9 µs an id here, 40 ns this way.
func newRequestID() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return uuidText(&u)
}

// uuidText is u.String(): its canonical text, written here four bytes'
// digits at a time (hexWord), where uuid's own writes it through
// encoding/hex a digit at a time (about 390 instructions an id, a quarter
// of that here).
func uuidText(u *uuid.UUID) string {
	var b [36]byte
	binary.BigEndian.PutUint64(b[0:], hexWord(binary.BigEndian.Uint32(u[0:])))
	// The second and third groups of four bytes are 4-4 digits apart: each
	// is written whole, its second half again four places on, and the
	// dash over the one digit in between.
	w := hexWord(binary.BigEndian.Uint32(u[4:]))
	binary.BigEndian.PutUint64(b[9:], w)
	binary.BigEndian.PutUint32(b[14:], uint32(w))
	w = hexWord(binary.BigEndian.Uint32(u[8:]))
	binary.BigEndian.PutUint64(b[19:], w)
	binary.BigEndian.PutUint32(b[24:], uint32(w))
	binary.BigEndian.PutUint64(b[28:], hexWord(binary.BigEndian.Uint32(u[12:])))
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

// hexWord is x's eight lower-case hex digits, the first in the top byte:
// each nibble is spread into a byte of its own, then '0' added to every
// byte, and 'a'-'0'-10 more to those of ten and above (a nibble of ten or
// more carries into bit 4 once 6 is added to it).
func hexWord(x uint32) uint64 {
	v := uint64(x)
	v = (v | v<<16) & 0x0000ffff0000ffff
	v = (v | v<<8) & 0x00ff00ff00ff00ff
	v = (v | v<<4) & 0x0f0f0f0f0f0f0f0f
	letters := (v + 0x0606060606060606) >> 4 & 0x0101010101010101
	return v + 0x3030303030303030 + letters*('a'-'0'-10)
}

// accessLog writes the request's access log line. Its fields are built in
// this frame, not in the middleware's, which stays on the stack under the
// handler (a streaming turn waits for the model there).
func accessLog(c *gin.Context, fields *logctx.Fields, start time.Time) {
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	fields.Write(zap.InfoLevel, "request",
		zap.String("method", c.Request.Method),
		zap.String("route", route),
		zap.Int("status", c.Writer.Status()),
		zap.Int("bytes", c.Writer.Size()),
		zap.Duration("latency", time.Since(start)))
}

// RequestStart is when requestEntry began the request, for timing it (its
// wall clock is the monotonic clock's count from a reading of both, not a
// reading of its own), and whether it did: a middleware after requestEntry
// that times the request (the HTTP metrics) reads the clock once less.
func RequestStart(c *gin.Context) (time.Time, bool) {
	if s := stateOf(c); s != nil {
		return clock.MonoTime(s.start), true
	}
	return time.Time{}, false
}

// requestID is the request's id, "" before requestEntry ran.
func requestID(c *gin.Context) string {
	if s := stateOf(c); s != nil {
		return s.id
	}
	return ""
}

// recovery turns a panic into a logged 500 with the standard error body;
// the panic value and stack stay in the log.
func recovery(log *zap.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				logctx.From(c.Request.Context(), log).Error("handler panicked", zap.Any("panic", r), zap.Stack("stack"))
				if !c.Writer.Written() {
					writeError(c, domain.Errorf(domain.CodeInternal, "internal error"))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// bundleRoute takes whole agent bundles, which outgrow a chat request.
const bundleRoute = "/v1/agents/:agent_id/bundle"

// limitBody caps request bodies; reading past the cap fails, and decoding
// reports it as PAYLOAD_TOO_LARGE. Bundle imports and replays (which may
// carry a bundle) get their own cap.
func limitBody(cfg Config) gin.HandlerFunc {
	return func(c *gin.Context) {
		max := cfg.MaxBodyBytes
		if route := c.FullPath(); route == bundleRoute || route == replayRoute {
			max = cfg.MaxBundleBytes
		}
		if c.Request.ContentLength > max {
			writeError(c, domain.Errorf(CodePayloadTooLarge, "request body exceeds %d bytes", max))
			return
		}
		// net/http's server ends a body of declared length at that length,
		// within the cap here: only a body of unknown length (chunked)
		// needs the reader that counts.
		if body := c.Request.Body; c.Request.ContentLength <= 0 && body != nil && body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		}
		c.Next()
	}
}

// requireJSON rejects bodies that are not declared as JSON.
func requireJSON(c *gin.Context) {
	if c.Request.ContentLength == 0 && c.Request.Body == http.NoBody {
		c.Next()
		return
	}
	ct := headerValue(c.Request.Header, headerContentType)
	if ct == "application/json" { // as clients send it: nothing to parse
		c.Next()
		return
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !isJSONSuffix(mt)) {
		writeError(c, domain.Errorf(CodeUnsupportedMediaType, "Content-Type must be application/json or another application/*+json type"))
		return
	}
	c.Next()
}

// isJSONSuffix reports whether mt is an application/*+json type (RFC
// 6839), as openapi.json's request bodies list them: JSON by another name.
// Other top-level types are not taken for JSON.
func isJSONSuffix(mt string) bool {
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") && len(mt) > len("application/+json")
}

// authenticate requires a valid bearer token and stores the caller.
func authenticate(a *Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := a.verify(headerValue(c.Request.Header, headerAuthorization))
		if err != nil {
			logctx.From(c.Request.Context(), zap.NewNop()).Info("authentication failed", zap.NamedError("reason", errors.Unwrap(err)))
			writeError(c, err)
			return
		}
		st := stateOf(c)
		if st == nil { // a router without requestEntry (tests)
			st = &requestState{}
			bindState(c, st, c.Request.Context())
		}
		st.principal = p
		logctx.Add(c.Request.Context(), zap.String("tenant_id", p.TenantID))
		c.Next()
	}
}

// principal returns the authenticated caller; routes behind authenticate
// always have one.
func principal(c *gin.Context) Principal {
	st := stateOf(c)
	if st == nil || st.principal == nil {
		panic(fmt.Sprintf("route %s is not behind authentication", c.FullPath()))
	}
	return *st.principal
}

// viewer says how much of a policy the caller may read.
func viewer(c *gin.Context) application.Viewer {
	if principal(c).HasRole(RoleAdmin) {
		return application.ViewerAdmin
	}
	return application.ViewerMember
}

// requireRole answers 403 unless the caller holds role.
func requireRole(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !principal(c).HasRole(role) {
			writeError(c, domain.Errorf(domain.CodeForbidden, "this operation needs the %s role", role))
			return
		}
		c.Next()
	}
}
