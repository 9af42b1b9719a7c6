package component

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/test/harness"
)

// The OpenAI-compatible routes have no 403 to answer (openapi.json declares
// none, and its OpenAIErrorBody lists no permission_error): a token with no
// role is served, and a tenant_id in the body, another tenant's, is not
// read, where /v1/chat answers it TENANT_MISMATCH.
func TestOpenAIRoutesAnswerNoForbidden(t *testing.T) {
	app := harness.Start(t, nil)
	roleless := harness.Token(t, harness.DemoTenant)
	body := map[string]any{"model": harness.DemoAgent, "user": "no-role-user", "tenant_id": "11111111-1111-4111-8111-111111111111",
		"messages": []map[string]any{{"role": "user", "content": "hello"}}}

	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: roleless, Body: body})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/models", Token: roleless})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
}
