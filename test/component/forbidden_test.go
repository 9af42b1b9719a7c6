package component

import (
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

// tenantInBody are the operations whose body may name a tenant, which
// answer 403 TENANT_MISMATCH to any token when it is another's.
var tenantInBody = []string{"POST /v1/chat", "POST /v1/chat/stream"}

// openapi.json declares 403 exactly where the service can answer it: on
// the operations that need the admin role, which a token without it gets
// (the harness fails an undeclared status), and on those whose body names
// a tenant; nowhere else.
func TestForbiddenIsDeclaredWhereTheServiceAnswersIt(t *testing.T) {
	app := harness.Start(t, nil)
	member := harness.Token(t, harness.DemoTenant)
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	require.NoError(t, err)
	for docPath, item := range doc.Paths.Map() {
		if !strings.HasPrefix(docPath, "/v1/") {
			continue
		}
		path := pathParam.ReplaceAllString(strings.ReplaceAll(docPath, "{agent_id}", harness.DemoAgent), "x")
		for method, op := range item.Operations() {
			req := harness.Request{Method: method, Path: path, Token: member}
			if op.RequestBody != nil {
				req.Body = "{}"
			}
			name := method + " " + docPath
			res := app.Do(t, req)
			declared := op.Responses.Status(http.StatusForbidden) != nil
			if res.Status == http.StatusForbidden || !declared {
				assert.Equal(t, declared, res.Status == http.StatusForbidden, "%s: %d %s", name, res.Status, res.Body)
				continue
			}
			assert.Contains(t, tenantInBody, name, "%s declares 403, but a token without the admin role got %d", name, res.Status)
		}
	}
}
