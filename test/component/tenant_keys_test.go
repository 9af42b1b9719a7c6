package component

import (
	"crypto/rand"
	"encoding/base64"
	"maps"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// secretKey is a fresh FOCAL_SECRET_KEY.
func secretKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(k)
}

// keyEnv lets tenants store keys for the fake model's host, and reads
// them at every turn.
func keyEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{"FOCAL_SECRET_KEY": secretKey(t), "FOCAL_TENANT_MODEL_HOSTS": "127.0.0.1", "FOCAL_TENANT_KEYS_REFRESH": "0s"}
	maps.Copy(env, extra)
	return env
}

// tenantWithAgent is a new tenant with the plain agent.
type tenantWithAgent struct {
	id, admin, user string
}

func newTenant(t *testing.T, app *harness.App) tenantWithAgent {
	t.Helper()
	id := uuid.NewString()
	ta := tenantWithAgent{id: id, admin: harness.Token(t, id, "admin"), user: harness.Token(t, id)}
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + plainAgent + "/bundle", Token: ta.admin,
		Body: map[string]any{"agent": map[string]any{"id": plainAgent, "name": "plain"}}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	return ta
}

// putKey stores the tenant's key for provider on the fake model.
func (ta tenantWithAgent) putKey(t *testing.T, app *harness.App, provider string, body map[string]any) *harness.Response {
	t.Helper()
	return app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/models/" + provider, Token: ta.admin, Body: body})
}

// turn runs one turn of the tenant's plain agent and returns the response.
func (ta tenantWithAgent) turn(t *testing.T, app *harness.App, user string) *harness.Response {
	t.Helper()
	body := harness.ChatBody(user, "Tell me something")
	body["agent_id"] = plainAgent
	return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: ta.user, Body: body})
}

// lastAuth is how the fake model's last request authenticated.
func lastAuth(fake *fakellm.Server) (bearer, apiKey string) {
	reqs := fake.Requests()
	h := reqs[len(reqs)-1].Header
	return h.Get("Authorization"), h.Get("X-Api-Key")
}

// Each tenant's turns reach the model with its own key, a tenant without
// one with the service's; the key is shown by its last four characters
// only, and the allowed models hold.
func TestTenantTurnsUseTheirOwnKeys(t *testing.T) {
	app, fake := startOnFakeModel(t, keyEnv(t, nil))
	a, b := newTenant(t, app), newTenant(t, app)
	demo := tenantWithAgent{id: harness.DemoTenant, user: harness.Token(t, harness.DemoTenant)}
	const keyA, keyB = "sk-tenant-a-0123456789abcdef", "sk-tenant-b-fedcba9876543210"

	res := a.putKey(t, app, "openai", map[string]any{"key": keyA, "base_url": fake.URL() + "/v1"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var shown map[string]any
	res.JSON(t, &shown)
	assert.Equal(t, "cdef", shown["key_last4"])
	assert.NotContains(t, string(res.Body), keyA[:len(keyA)-4])
	res = b.putKey(t, app, "openai", map[string]any{"key": keyB, "base_url": fake.URL() + "/v1", "models": []string{"fake-model"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

	for _, c := range []struct {
		who  tenantWithAgent
		want string
	}{{a, "Bearer " + keyA}, {b, "Bearer " + keyB}, {demo, "Bearer service-key"}, {a, "Bearer " + keyA}} {
		res := c.who.turn(t, app, "keyed-user")
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		bearer, _ := lastAuth(fake)
		assert.Equal(t, c.want, bearer, "tenant %s", c.who.id)
	}

	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/models", Token: a.admin})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), `"key_last4":"cdef"`)
	assert.NotContains(t, string(res.Body), keyA[:len(keyA)-4], "no read shows the key")
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/models", Token: a.user})
	assert.Equal(t, http.StatusForbidden, res.Status, "keys are the admin's business")

	// A key for other models only is never used for this one, and the
	// service's key is not used instead: the tenant has a key of its own.
	res = a.putKey(t, app, "openai", map[string]any{"key": keyA, "base_url": fake.URL() + "/v1", "models": []string{"another-model"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	calls := fake.Count()
	res = a.turn(t, app, "keyed-user")
	requireError(t, res, http.StatusServiceUnavailable, "LLM_UNAVAILABLE")
	assert.Contains(t, string(res.Body), "not for fake-model")
	assert.Equal(t, calls, fake.Count(), "the model was not called")

	// Without its key, the tenant is back on the service's.
	res = app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/tenant/models/openai", Token: a.admin})
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	require.Equal(t, http.StatusOK, a.turn(t, app, "keyed-user").Status)
	bearer, _ := lastAuth(fake)
	assert.Equal(t, "Bearer service-key", bearer)
	res = app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/tenant/models/openai", Token: a.admin})
	requireError(t, res, http.StatusNotFound, "NOT_FOUND")
}

// With FOCAL_REQUIRE_TENANT_KEYS a tenant without a key gets
// LLM_UNAVAILABLE and the model is not called; one with a key is served.
func TestRequiredTenantKeys(t *testing.T) {
	app, fake := startOnFakeModel(t, keyEnv(t, map[string]string{"FOCAL_REQUIRE_TENANT_KEYS": "true"}))
	keyed, bare := newTenant(t, app), newTenant(t, app)
	require.Equal(t, http.StatusOK, keyed.putKey(t, app, "openai", map[string]any{"key": "sk-keyed-0123456789", "base_url": fake.URL() + "/v1"}).Status)

	calls := fake.Count()
	res := bare.turn(t, app, "u")
	requireError(t, res, http.StatusServiceUnavailable, "LLM_UNAVAILABLE")
	assert.Contains(t, string(res.Body), "no openai key")
	assert.Equal(t, calls, fake.Count())

	require.Equal(t, http.StatusOK, keyed.turn(t, app, "u").Status)
	bearer, _ := lastAuth(fake)
	assert.Equal(t, "Bearer sk-keyed-0123456789", bearer)
}

// A tenant's Anthropic key reaches the Anthropic model.
func TestTenantAnthropicKey(t *testing.T) {
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	app := harness.Start(t, keyEnv(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "anthropic", "FOCAL_LLM_MODEL": "fake-model", "FOCAL_LLM_BASE_URL": fake.URL(),
		"FOCAL_LLM_API_KEY": "service-key", "FOCAL_LLM_MAX_RETRIES": "0",
	}))
	ta := newTenant(t, app)
	res := ta.putKey(t, app, "anthropic", map[string]any{"key": "sk-ant-tenant-0123456789", "base_url": fake.URL()})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, http.StatusOK, ta.turn(t, app, "u").Status)
	// The SDK sends the key as x-api-key or as a bearer token.
	bearer, apiKey := lastAuth(fake)
	assert.True(t, apiKey == "sk-ant-tenant-0123456789" || bearer == "Bearer sk-ant-tenant-0123456789", "%q %q", apiKey, bearer)
}

// Bad keys and base URLs are refused with the field named; without a
// service key nothing can be stored.
func TestTenantKeyRefusals(t *testing.T) {
	app, fake := startOnFakeModel(t, keyEnv(t, nil))
	ta := newTenant(t, app)
	for _, c := range []struct {
		provider string
		body     map[string]any
		field    string
	}{
		{"openai", map[string]any{"key": "short"}, "key"},
		{"openai", map[string]any{"key": "has spaces in it"}, "key"},
		{"gemini", map[string]any{"key": "sk-0123456789"}, "provider"},
		{"openai", map[string]any{"key": "sk-0123456789", "base_url": "https://elsewhere.example/v1"}, "base_url"},
		{"openai", map[string]any{"key": "sk-0123456789", "base_url": "http://user:pw@127.0.0.1/v1"}, "base_url"},
		{"openai", map[string]any{"key": "sk-0123456789", "models": []string{""}}, "models[0]"},
	} {
		res := ta.putKey(t, app, c.provider, c.body)
		requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
		assert.Contains(t, string(res.Body), `"field":"`+c.field+`"`, "%v", c.body)
	}
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/models/openai", Token: ta.user,
		Body: map[string]any{"key": "sk-0123456789", "base_url": fake.URL() + "/v1"}})
	requireError(t, res, http.StatusForbidden, "FORBIDDEN")

	plain, _ := startOnFakeModel(t, nil)
	other := newTenant(t, plain)
	res = other.putKey(t, plain, "openai", map[string]any{"key": "sk-0123456789"})
	requireError(t, res, http.StatusForbidden, "FORBIDDEN")
	assert.Contains(t, string(res.Body), "FOCAL_SECRET_KEY")
}
