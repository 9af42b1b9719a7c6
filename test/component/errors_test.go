package component

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/ports"
	"focal/test/harness"
)

// errorBody is the one error shape; decoding it strictly proves there is
// nothing else in the body.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// requireError checks status, code and the body shape of an error response.
func requireError(t *testing.T, res *harness.Response, status int, code string) errorBody {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	var body errorBody
	dec := json.NewDecoder(strings.NewReader(string(res.Body)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), "error body shape: %s", res.Body)
	assert.Equal(t, code, body.Error.Code)
	assert.NotEmpty(t, body.Error.Message)
	assert.NotNil(t, body.Error.Details, "details is always a list")
	assert.NotEmpty(t, body.Error.RequestID)
	assert.Equal(t, res.Header.Get("X-Request-ID"), body.Error.RequestID)
	assert.Contains(t, res.Header.Get("Content-Type"), "application/json")
	return body
}

func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

func TestAuthenticationErrors(t *testing.T) {
	app := harness.Start(t, nil)
	now := time.Now()
	valid := jwt.MapClaims{"tenant_id": harness.DemoTenant, "exp": now.Add(time.Hour).Unix()}
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range valid {
			c[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	secret := []byte(harness.Secret)
	cases := map[string]string{
		"missing token":       "",
		"malformed token":     "Bearer not.a.jwt",
		"not a bearer":        "Basic dXNlcjpwYXNz",
		"expired":             "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})),
		"no expiry":           "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": nil})),
		"wrongly signed":      "Bearer " + signed(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-0123"), valid),
		"missing tenant":      "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tenant_id": nil})),
		"tenant not a UUID":   "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tenant_id": "acme"})),
		"alg none":            "Bearer " + signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid),
		"unknown tier":        "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tier": "platinum"})),
		"not yet valid (nbf)": "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})),
		// uuid.Parse reads these forms too; a tenant id is only the
		// canonical 36 characters.
		"tenant in braces":      "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tenant_id": "{" + harness.DemoTenant + "}"})),
		"tenant as a URN":       "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tenant_id": "urn:uuid:" + harness.DemoTenant})),
		"tenant without dashes": "Bearer " + signed(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"tenant_id": strings.ReplaceAll(harness.DemoTenant, "-", "")})),
		// A valid token under another scheme is still not a bearer token.
		"valid token, Basic scheme": "Basic " + signed(t, jwt.SigningMethodHS256, secret, valid),
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat",
				Body: harness.ChatBody("u", "hello"), Headers: map[string]string{"Authorization": header}})
			requireError(t, res, http.StatusUnauthorized, "UNAUTHENTICATED")
			assert.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer")
		})
	}
}

// postChunked posts body to /v1/chat without a declared length, so the
// client sends it chunked.
func postChunked(t *testing.T, app *harness.App, token, body string) *harness.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.URL+"/v1/chat", io.MultiReader(strings.NewReader(body)))
	require.NoError(t, err)
	req.TransferEncoding = []string{"chunked"}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &harness.Response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

func TestChatRequestErrors(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	post := func(body any, headers map[string]string) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: body, Headers: headers})
	}

	t.Run("every invalid field is listed", func(t *testing.T) {
		res := post(map[string]any{
			"tenant_id": "acme", "agent_id": "agent-1", "channel": "Web Chat", "user_channel_id": "",
			"message": "   ", "session_id": "s-1", "metadata": map[string]any{"blob": strings.Repeat("x", 17000)},
		}, nil)
		body := requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
		fields := map[string]bool{}
		for _, d := range body.Error.Details {
			fields[d.Field] = true
			assert.NotEmpty(t, d.Message)
		}
		for _, f := range []string{"tenant_id", "agent_id", "channel", "user_channel_id", "message", "session_id", "metadata"} {
			assert.True(t, fields[f], "details name %s: %+v", f, body.Error.Details)
		}
	})
	t.Run("missing required fields", func(t *testing.T) {
		body := requireError(t, post(map[string]any{}, nil), http.StatusBadRequest, "INVALID_REQUEST")
		assert.Len(t, body.Error.Details, 4)
	})
	t.Run("message of 10,001 characters", func(t *testing.T) {
		// Runes, not bytes: 10,001 two-byte characters.
		body := requireError(t, post(harness.ChatBody("long", strings.Repeat("é", 10001)), nil), http.StatusBadRequest, "INVALID_REQUEST")
		require.Len(t, body.Error.Details, 1)
		assert.Equal(t, "message", body.Error.Details[0].Field)
		assert.Contains(t, body.Error.Details[0].Message, "10000")
	})
	t.Run("message of 10,000 characters is accepted", func(t *testing.T) {
		res := post(harness.ChatBody("long-ok", strings.Repeat("é", 10000)), nil)
		assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	})
	t.Run("message with a NUL byte", func(t *testing.T) {
		body := requireError(t, post(harness.ChatBody("nul", "hi\x00there"), nil), http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "message", body.Error.Details[0].Field)
	})
	t.Run("wrong type names the field", func(t *testing.T) {
		body := requireError(t, post(`{"agent_id": 42}`, nil), http.StatusBadRequest, "INVALID_REQUEST")
		require.Len(t, body.Error.Details, 1)
		assert.Equal(t, "agent_id", body.Error.Details[0].Field)
	})
	t.Run("unknown field", func(t *testing.T) {
		b := harness.ChatBody("u", "hello")
		b["agentId"] = harness.DemoAgent
		body := requireError(t, post(b, nil), http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "agentId", body.Error.Details[0].Field)
	})
	t.Run("not JSON", func(t *testing.T) {
		requireError(t, post(`{"agent_id":`, nil), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, post(`[1,2]`, nil), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, post(`{} {}`, nil), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, post([]byte("{\"message\":\"\xff\"}"), nil), http.StatusBadRequest, "INVALID_REQUEST")
	})
	t.Run("wrong content type", func(t *testing.T) {
		requireError(t, post(`agent_id=x`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})
	t.Run("a JSON media type with +json is accepted", func(t *testing.T) {
		// openapi.json declares application/*+json: the harness holds the
		// request to the document as well.
		res := post(harness.ChatBody("vnd-user", "hello"), map[string]string{"Content-Type": "application/vnd.api+json"})
		assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		requireError(t, post(strings.Repeat(" ", 1<<20+1), nil), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	})
	t.Run("chunked body over 1 MiB", func(t *testing.T) {
		// No declared length: the server counts what it reads.
		requireError(t, postChunked(t, app, token, strings.Repeat(" ", 1<<20+1)), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		assert.Equal(t, http.StatusOK, postChunked(t, app, token, `{"agent_id":"`+harness.DemoAgent+
			`","channel":"web","user_channel_id":"chunked","message":"hello"}`).Status, "a chunked body within the limit is read")
	})
	t.Run("tenant mismatch", func(t *testing.T) {
		b := harness.ChatBody("u", "hello")
		b["tenant_id"] = "11111111-1111-4111-8111-111111111111"
		requireError(t, post(b, nil), http.StatusForbidden, "TENANT_MISMATCH")
	})
	t.Run("matching tenant is accepted", func(t *testing.T) {
		b := harness.ChatBody("u", "hello")
		b["tenant_id"] = strings.ToUpper(harness.DemoTenant)
		assert.Equal(t, http.StatusOK, post(b, nil).Status)
	})
	t.Run("unknown agent", func(t *testing.T) {
		b := harness.ChatBody("u", "hello")
		b["agent_id"] = "22222222-2222-4222-8222-222222222222"
		requireError(t, post(b, nil), http.StatusNotFound, "AGENT_NOT_FOUND")
	})
	t.Run("agent of another tenant", func(t *testing.T) {
		other := harness.Token(t, "33333333-3333-4333-8333-333333333333")
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: other, Body: harness.ChatBody("u", "hello")})
		requireError(t, res, http.StatusNotFound, "AGENT_NOT_FOUND")
	})
	t.Run("unknown session", func(t *testing.T) {
		b := harness.ChatBody("u", "hello")
		b["session_id"] = "44444444-4444-4444-8444-444444444444"
		requireError(t, post(b, nil), http.StatusNotFound, "SESSION_NOT_FOUND")
	})
}

func TestSessionErrors(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("s-user", "hello")})
	require.Equal(t, http.StatusOK, res.Status)
	var first map[string]any
	res.JSON(t, &first)
	sessionID := first["session_id"].(string)

	t.Run("session of another tenant is not found", func(t *testing.T) {
		other := harness.Token(t, "55555555-5555-4555-8555-555555555555")
		b := harness.ChatBody("s-user", "hello")
		b["session_id"] = sessionID
		requireError(t, app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: other, Body: b}),
			http.StatusNotFound, "AGENT_NOT_FOUND")
		requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID, Token: other}),
			http.StatusNotFound, "SESSION_NOT_FOUND")
	})
	t.Run("closed session", func(t *testing.T) {
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/sessions/" + sessionID + "/close", Token: token})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		b := harness.ChatBody("s-user", "hello")
		b["session_id"] = sessionID
		requireError(t, app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: b}),
			http.StatusConflict, "SESSION_CLOSED")
		// Without a session id the channel identity opens a new session.
		res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("s-user", "hello")})
		require.Equal(t, http.StatusOK, res.Status)
		var next map[string]any
		res.JSON(t, &next)
		assert.NotEqual(t, sessionID, next["session_id"])
	})
}

func TestIdleSessionsAreClosed(t *testing.T) {
	clock := harness.NewClock()
	app := harness.Start(t, map[string]string{"FOCAL_SESSION_IDLE_TTL": "1h"}, harness.WithClock(clock))
	token := harness.TokenAt(t, clock.Now(), harness.DemoTenant)
	_, first := chat(t, app, token, harness.ChatBody("idler", "hello"))
	clock.Advance(59 * time.Minute)
	_, again := chat(t, app, token, harness.ChatBody("idler", "hello"))
	require.Equal(t, first["session_id"], again["session_id"], "a session used within the idle TTL goes on")
	clock.Advance(time.Hour + time.Second)
	token = harness.TokenAt(t, clock.Now(), harness.DemoTenant) // the first expired with the hour
	b := harness.ChatBody("idler", "hello")
	b["session_id"] = first["session_id"]
	requireError(t, app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: b}),
		http.StatusConflict, "SESSION_CLOSED")
	_, next := chat(t, app, token, harness.ChatBody("idler", "hello"))
	assert.NotEqual(t, first["session_id"], next["session_id"], "the next message opens a new session")
}

func TestRoutingErrors(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/nothing-here", Token: token}), http.StatusNotFound, "NOT_FOUND")
	requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/nope"}), http.StatusNotFound, "NOT_FOUND")
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/chat", Token: token})
	requireError(t, res, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	assert.Equal(t, "POST", res.Header.Get("Allow"))
}

func TestRequestIDs(t *testing.T) {
	app := harness.Start(t, nil)
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/nope", Headers: map[string]string{"X-Request-ID": "client-req-7"}})
	assert.Equal(t, "client-req-7", res.Header.Get("X-Request-ID"))
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/nope", Headers: map[string]string{"X-Request-ID": "bad id\twith tab"}})
	assert.NotEqual(t, "bad id\twith tab", res.Header.Get("X-Request-ID"))
	assert.Len(t, res.Header.Get("X-Request-ID"), 36, "a fresh UUID replaces an insane id")
}

// panickingEngine stands in for an engine with a bug.
type panickingEngine struct{}

func (panickingEngine) RunTurn(context.Context, ports.TurnInput, ports.DeltaSink) (*ports.TurnOutcome, error) {
	panic("secret internal state: db password hunter2")
}

func TestHandlerPanicIsA500WithoutInternals(t *testing.T) {
	app := harness.Start(t, nil, fx.Decorate(func(ports.Engine) ports.Engine { return panickingEngine{} }))
	token := harness.Token(t, harness.DemoTenant)
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("p", "hello")})
	body := requireError(t, res, http.StatusInternalServerError, "INTERNAL_ERROR")
	assert.Equal(t, "internal error", body.Error.Message)
	assert.NotContains(t, string(res.Body), "hunter2")
	assert.NotContains(t, string(res.Body), "panic")

	// The service keeps serving after a panic.
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + "66666666-6666-4666-8666-666666666666", Token: token})
	requireError(t, res, http.StatusNotFound, "SESSION_NOT_FOUND")
}

// Headers over FOCAL_HTTP_MAX_HEADER_BYTES are refused with 431 by the HTTP
// server itself, before routing: the one answer outside the API document,
// so a plain client checks it. Go's server reads up to 8 KiB beyond the
// limit before it refuses (4 KiB of slack, and 4 KiB it may have read
// ahead on a kept-alive connection); past that, every request is refused.
func TestHeadersOverTheLimitAre431(t *testing.T) {
	const limit, readAhead = 8192, 8192
	app := harness.Start(t, map[string]string{"FOCAL_HTTP_MAX_HEADER_BYTES": strconv.Itoa(limit)})
	token := harness.Token(t, harness.DemoTenant)
	send := func(client *http.Client, padding int) int {
		req, err := http.NewRequest(http.MethodGet, app.URL+"/v1/sessions", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Padding", strings.Repeat("p", padding))
		res, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	kept := &http.Client{Transport: &http.Transport{}}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for name, client := range map[string]*http.Client{"kept-alive": kept, "fresh": fresh} {
		assert.Equal(t, http.StatusOK, send(client, limit-len(token)-512), "%s: headers within the limit are served", name)
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, send(client, limit+readAhead), "%s connection", name)
		assert.Equal(t, http.StatusOK, send(client, 16), "%s: the server goes on serving", name)
	}
}
