package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
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
		require.True(t, saneRequestID.MatchString(id))
		require.False(t, seen[id], "ids repeat")
		seen[id] = true
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
