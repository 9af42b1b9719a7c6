package component

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// Every operation of the service's own /v1 routes, as the served document
// lists them, refuses a query parameter it does not declare, before it
// does anything: 400 INVALID_REQUEST naming the parameter and what the
// operation takes. Deletes and closes given a stray parameter delete and
// close nothing.
func TestOperationsRefuseUndeclaredQueryParameters(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	_, first := chat(t, app, admin.token, harness.ChatBody("query-a", "hello"))
	session, _ := first["session_id"].(string)
	turn, _ := first["turn_id"].(string)
	require.NotEmpty(t, session, "%v", first)
	ids := map[string]string{"agent_id": harness.DemoAgent, "session_id": session, "turn_id": turn, "rule_id": "greeting",
		"variable_name": "email", "provider": "openai", "version": "1"}

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	res := admin.do(http.MethodGet, "/openapi.json", nil)
	require.Equal(t, http.StatusOK, res.Status)
	require.NoError(t, json.Unmarshal(res.Body, &doc))
	param := regexp.MustCompile(`\{([^/}]+)\}`)
	checked := 0
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method, raw := range item {
			var op struct {
				Tags []string `json:"tags"`
			}
			if method == "parameters" {
				continue
			}
			require.NoError(t, json.Unmarshal(raw, &op), "%s %s", method, path)
			if len(op.Tags) > 0 && op.Tags[0] == "openai" {
				continue
			}
			target := param.ReplaceAllStringFunc(path, func(m string) string {
				if id, ok := ids[strings.Trim(m, "{}")]; ok {
					return id
				}
				return "x"
			})
			body := requireError(t, admin.do(strings.ToUpper(method), target+"?colour=red", nil), http.StatusBadRequest, "INVALID_REQUEST")
			require.Len(t, body.Error.Details, 1, "%s %s", method, path)
			assert.Equal(t, "colour", body.Error.Details[0].Field, "%s %s", method, path)
			assert.Contains(t, body.Error.Details[0].Message, "is not a query parameter of this operation", "%s %s", method, path)
			checked++
		}
	}
	require.Greater(t, checked, 40, "the document's native operations")
	admin.must(http.StatusOK, http.MethodGet, "/v1/agents/"+harness.DemoAgent, nil)
	got := admin.must(http.StatusOK, http.MethodGet, "/v1/sessions/"+session, nil)
	assert.Equal(t, "active", got["status"], "a close or delete with a stray parameter closed nothing")
}

// A misspelt filter is refused rather than ignored: a client that asked
// for one agent's sessions never gets every session of the tenant. The
// message says what the operation takes; the declared parameters work
// together; a parameter given twice, or a query that is not URL encoding,
// is refused too. The OpenAI-compatible routes ignore what they do not
// know, as OpenAI's API does.
func TestQueryParametersAreTheDeclaredOnesOnce(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	other := admin.must(http.StatusCreated, http.MethodPost, "/v1/agents", map[string]any{"name": "other"})
	otherID, _ := other["id"].(string)
	require.NotEmpty(t, otherID, "%v", other)
	chat(t, app, admin.token, harness.ChatBody("query-b", "hello"))

	body := requireError(t, admin.do(http.MethodGet, "/v1/sessions?agent="+otherID, nil), http.StatusBadRequest, "INVALID_REQUEST")
	require.Len(t, body.Error.Details, 1)
	assert.Equal(t, "agent", body.Error.Details[0].Field)
	assert.Equal(t, "is not a query parameter of this operation, which takes agent_id, status, limit, cursor", body.Error.Details[0].Message)

	page := admin.must(http.StatusOK, http.MethodGet, "/v1/sessions?agent_id="+otherID+"&status=active&limit=5&cursor=", nil)
	assert.Empty(t, page["items"], "the other agent has no sessions")
	page = admin.must(http.StatusOK, http.MethodGet, "/v1/sessions?agent_id="+harness.DemoAgent+"&status=active&limit=5", nil)
	assert.Len(t, page["items"], 1)

	body = requireError(t, admin.do(http.MethodGet, "/v1/sessions?limit=1&limit=100", nil), http.StatusBadRequest, "INVALID_REQUEST")
	require.Len(t, body.Error.Details, 1)
	assert.Equal(t, "limit", body.Error.Details[0].Field)
	assert.Equal(t, "is given more than once", body.Error.Details[0].Message)

	body = requireError(t, admin.do(http.MethodGet, "/v1/agents?Limit=5&cursor=%zz", nil), http.StatusBadRequest, "INVALID_REQUEST")
	require.Len(t, body.Error.Details, 1)
	assert.Equal(t, "query", body.Error.Details[0].Field)

	body = requireError(t, admin.do(http.MethodGet, "/v1/agents?Limit=5&order=desc", nil), http.StatusBadRequest, "INVALID_REQUEST")
	require.Len(t, body.Error.Details, 2, "each parameter is named")
	assert.Equal(t, "Limit", body.Error.Details[0].Field)
	assert.Equal(t, "order", body.Error.Details[1].Field)

	body = requireError(t, admin.do(http.MethodGet, "/v1/turns/x?expand=all", nil), http.StatusBadRequest, "INVALID_REQUEST")
	assert.Equal(t, "is not a query parameter of this operation, which takes none", body.Error.Details[0].Message)

	admin.must(http.StatusOK, http.MethodGet, "/v1/models?api-version=2024-06-01", nil)
}
