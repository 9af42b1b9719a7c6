package component

import (
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

// candidateTypes are media types sent to every operation with a body,
// besides those it declares: JSON and YAML by name and by suffix, under
// application/ and not, and types that are neither.
var candidateTypes = []string{"application/json", "application/vnd.focal-test+json", "text/vnd.focal-test+json",
	"application/yaml", "text/yaml", "application/vnd.focal-test+yaml", "text/vnd.focal-test+yaml",
	"text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"}

// pathParam is a path parameter of the document.
var pathParam = regexp.MustCompile(`\{[^/}]+\}`)

// declares reports whether content lists the media type of contentType:
// by name, or by a range such as application/*+json.
func declares(content openapi3.Content, contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if content[mt] != nil {
		return true
	}
	typ, sub, _ := strings.Cut(mt, "/")
	_, suffix, ok := strings.Cut(sub, "+")
	return ok && content[typ+"/*+"+suffix] != nil
}

// The request media types openapi.json declares are exactly those the
// service accepts: every operation with a body gets past its media type
// check with each type it declares (a range such as application/*+json as
// one type of it), with parameters or without, and answers 415 to every
// other.
func TestRequestMediaTypesAreTheDocumented(t *testing.T) {
	app := harness.Start(t, nil)
	admin := harness.Token(t, harness.DemoTenant, httpapi.RoleAdmin)
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	require.NoError(t, err)
	bodies := 0
	for docPath, item := range doc.Paths.Map() {
		path := pathParam.ReplaceAllString(strings.ReplaceAll(docPath, "{agent_id}", harness.DemoAgent), "x")
		for method, op := range item.Operations() {
			if op.RequestBody == nil {
				continue
			}
			bodies++
			content := op.RequestBody.Value.Content
			probes := slices.Clone(candidateTypes)
			for mt := range content {
				sent := strings.Replace(mt, "*", "vnd.focal-test", 1)
				probes = append(probes, sent, sent+"; charset=utf-8")
			}
			for _, ct := range probes {
				res := app.Do(t, harness.Request{Method: method, Path: path, Token: admin, Body: "{}",
					Headers: map[string]string{"Content-Type": ct}})
				accepted := res.Status != http.StatusUnsupportedMediaType
				assert.Equal(t, declares(content, ct), accepted, "%s %s with %s: declared and accepted must agree (%d %s)",
					method, docPath, ct, res.Status, res.Body)
			}
		}
	}
	assert.Equal(t, 19, bodies, "operations with a request body")
}
