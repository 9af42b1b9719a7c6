package component

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// A tenant's key appears in no log line at any level: not when it is set,
// listed or removed, not on turns that use it, not when the model refuses
// it and quotes it back.
func TestTenantKeysAreNeverLogged(t *testing.T) {
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	const key = "tk_logged_nowhere_5f1e9a7c3b2d" // not shaped like the keys logs redact by pattern
	app, logs := harness.StartObserved(t, keyEnv(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "fake-model", "FOCAL_LLM_BASE_URL": fake.URL() + "/v1",
		"FOCAL_LLM_API_KEY": "service-key", "FOCAL_LLM_MAX_RETRIES": "0", "FOCAL_LOG_LEVEL": "debug",
	}))
	ta := newTenant(t, app)
	res := ta.putKey(t, app, "openai", map[string]any{"key": key, "base_url": fake.URL() + "/v1"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/models", Token: ta.admin})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

	require.Equal(t, http.StatusOK, ta.turn(t, app, "logged").Status)
	fake.FailNext(1, fakellm.Reply{Status: http.StatusUnauthorized, ErrorType: "invalid_request_error",
		ErrorMessage: "Incorrect API key provided: " + key + ". You can find your API key at the provider."})
	res = ta.turn(t, app, "logged")
	requireError(t, res, http.StatusBadGateway, "LLM_ERROR")
	assert.NotContains(t, string(res.Body), key[:12], "nor does the client see it")
	res = ta.putKey(t, app, "openai", map[string]any{"key": key + " with a space"})
	requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
	res = app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/tenant/models/openai", Token: ta.admin})
	require.Equal(t, http.StatusNoContent, res.Status)

	require.NotZero(t, logs.Len(), "the service logged something")
	sawRefusal := false
	for _, e := range logs.All() {
		line := fmt.Sprintf("%s %s %v", e.Level, e.Message, e.ContextMap())
		// The key, or any part of it longer than its last four characters.
		for i := 0; i+8 <= len(key); i++ {
			require.NotContains(t, line, key[i:i+8], "a log line holds key material")
		}
		if strings.Contains(line, "LLM_ERROR") {
			sawRefusal = true
		}
	}
	assert.True(t, sawRefusal, "the model's refusal was logged (without the key)")
}
