package httpapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A request id made here is a random UUID as uuid.NewString makes it:
// version 4, RFC 9562 variant, in its canonical text, and new each time.
func TestNewRequestIDIsARandomUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(4), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		require.Equal(t, u.String(), id)
		require.True(t, saneRequestID(id))
		require.False(t, seen[id], "ids repeat")
		seen[id] = true
	}
}

// uuidText writes what uuid's String does, for UUIDs of every byte value
// in every place and for random ones.
func TestUUIDTextIsString(t *testing.T) {
	var cases []uuid.UUID
	for place := range 16 {
		for x := range 256 {
			var u uuid.UUID
			u[place] = byte(x)
			cases = append(cases, u)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		var u uuid.UUID
		for i := range u {
			u[i] = byte(r.Uint32())
		}
		cases = append(cases, u)
	}
	for _, u := range cases {
		require.Equal(t, u.String(), uuidText(&u))
	}
}

// The access line is written when the log's level takes it, with the
// request's id, route, status, size and latency; at a level above it no
// line is written.
func TestAccessLineOnlyAtItsLevel(t *testing.T) {
	for _, level := range []zapcore.Level{zapcore.InfoLevel, zapcore.WarnLevel} {
		core, logs := observer.New(level)
		r := gin.New()
		r.Use(requestEntry(Config{WriteTimeout: time.Minute}, zap.New(core)))
		r.GET("/s/:id", func(c *gin.Context) { c.String(http.StatusTeapot, "tea") })
		req := httptest.NewRequest(http.MethodGet, "/s/1", nil)
		req.Header.Set("X-Request-ID", "req-1")
		r.ServeHTTP(httptest.NewRecorder(), req)
		if level > zapcore.InfoLevel {
			require.Zero(t, logs.Len(), "no access line at %s", level)
			continue
		}
		require.Equal(t, 1, logs.Len())
		line := logs.All()[0].ContextMap()
		require.Equal(t, "request", logs.All()[0].Message)
		require.Equal(t, "req-1", line["request_id"])
		require.Equal(t, "/s/:id", line["route"])
		require.Equal(t, int64(http.StatusTeapot), line["status"])
		require.Equal(t, int64(3), line["bytes"])
		require.Contains(t, line, "latency")
	}
}

type wrapKey struct{}

// A request's state is found on its own context and under any context
// derived from it (a span's, an idempotent run's), and is nil before
// requestEntry ran.
func TestStateIsFoundUnderDerivedContexts(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	require.Nil(t, stateOf(c))
	st := &requestState{id: "r1"}
	bindState(c, st, c.Request.Context())
	require.Same(t, st, stateOf(c))
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), wrapKey{}, 1))
	require.Same(t, st, stateOf(c))
	require.Equal(t, "r1", requestID(c))
}

// saneRequestIDPattern is what saneRequestID checks, as the regular
// expression it was.
var saneRequestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// A client's request id is kept exactly when the regular expression
// matches it, whatever its length and bytes.
func TestSaneRequestIDIsTheRegularExpression(t *testing.T) {
	ids := []string{"", "a", "req-1", "a b", "a\nb", "é", "550e8400-e29b-41d4-a716-446655440000", strings.Repeat("x", 128), strings.Repeat("x", 129)}
	for c := range 256 {
		ids = append(ids, string([]byte{byte(c)}), "id-"+string([]byte{byte(c)})+"-1")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 5000 {
		alphabet := "aZ09._:-/ \xff"
		if r.IntN(2) == 0 {
			alphabet = "aZ09._:-"
		}
		b := make([]byte, r.IntN(140))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		ids = append(ids, string(b))
	}
	for _, id := range ids {
		require.Equal(t, saneRequestIDPattern.MatchString(id), saneRequestID(id), "%q", id)
	}
}

// RequestStart is when requestEntry began the request, by the monotonic
// clock (time.Since counts from it); a router without requestEntry has
// none.
func TestRequestStartIsWhenRequestEntryBegan(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	var elapsed time.Duration
	var ok bool
	before := time.Now()
	r := gin.New()
	r.Use(requestEntry(Config{WriteTimeout: time.Minute}, zap.NewNop()))
	r.GET("/s", func(c *gin.Context) {
		var start time.Time
		start, ok = RequestStart(c)
		elapsed = time.Since(start)
		c.Status(http.StatusNoContent)
	})
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/s", nil))
	require.True(t, ok)
	require.GreaterOrEqual(t, elapsed, time.Duration(0))
	require.LessOrEqual(t, elapsed, time.Since(before))

	bare := gin.New()
	bare.GET("/s", func(c *gin.Context) { _, ok = RequestStart(c) })
	bare.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/s", nil))
	require.False(t, ok, "no requestEntry, no start")
}
