package component

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

// misses are requests to an operation that miss: ids that are not UUIDs
// and UUIDs of nothing, bodies that are empty objects, not JSON or of
// unknown fields, and query parameters out of range, with each token.
func misses(method, docPath string, op *openapi3.Operation, tokens []string) []harness.Request {
	bodies := []any{nil}
	if op.RequestBody != nil {
		bodies = []any{"{}", "not json", `{"unknown": 1}`}
	}
	var out []harness.Request
	for _, id := range []string{"x", "11111111-1111-4111-8111-111111111111"} {
		for _, query := range []string{"", "?limit=0&cursor=%%&order=sideways&status=maybe&agent_id=x"} {
			for _, token := range tokens {
				for _, body := range bodies {
					out = append(out, harness.Request{Method: method, Path: pathParam.ReplaceAllString(docPath, id) + query, Token: token, Body: body})
				}
			}
		}
	}
	return out
}

// Every operation answers requests that miss as openapi.json declares (the
// harness fails any status, header or body it does not), from an admin
// and from a member.
func TestEveryOperationAnswersMissesAsDocumented(t *testing.T) {
	app := harness.Start(t, nil)
	tokens := []string{harness.Token(t, harness.DemoTenant, httpapi.RoleAdmin), harness.Token(t, harness.DemoTenant)}
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	require.NoError(t, err)
	for docPath, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for _, req := range misses(method, docPath, op, tokens) {
				app.Do(t, req)
			}
		}
	}
}
