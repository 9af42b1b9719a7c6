package logctx

import (
	"errors"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedactingCoreHidesURLCredentialsInEveryField(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := Redacting(zap.New(core)).With(zap.String("base_url", "https://u:hunter2@llm.example.com/v1?key=sk-1"))
	callErr := &url.Error{Op: "Post", URL: "http://10.0.0.1/hook?api_key=abc123", Err: errors.New("connection refused")}
	log.Warn("call to https://x.example.com/?token=t0k failed",
		zap.Error(callErr),
		zap.NamedError("cause", callErr),
		zap.ByteString("raw", []byte("http://a:b@h/")),
		zap.Stringer("url", &url.URL{Scheme: "https", Host: "h", RawQuery: "secret=s3"}),
		zap.Any("any", "https://h/?signature=sig9"),
		zap.String("plain", "nothing to hide"),
		zap.Int("n", 3))
	entries := logs.All()
	if assert.Len(t, entries, 1) {
		e := entries[0]
		assert.NotContains(t, e.Message, "t0k")
		all := e.Message
		for k, v := range e.ContextMap() {
			all += " " + k + "=" + toString(v)
		}
		for _, secret := range []string{"hunter2", "sk-1", "abc123", "a:b@", "s3", "sig9", "t0k"} {
			assert.NotContains(t, all, secret)
		}
		assert.Contains(t, all, "nothing to hide")
		assert.Contains(t, all, "api_key=REDACTED")
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
