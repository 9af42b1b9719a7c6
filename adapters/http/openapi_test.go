package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/domain"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	require.NoError(t, err, "openapi.json does not load")
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	require.NoError(t, doc.Validate(context.Background()))
}

// allRoutes is every endpoint set of this package, as the service wires
// them (their dependencies are not needed to register routes).
func allRoutes() []Routes {
	return []Routes{
		NewChatRoutes(Config{}, nil, nil, nil, nil, nil),
		NewOpenAIRoutes(Config{}, nil, nil, nil, nil, nil, nil),
		NewConversationRoutes(nil),
		NewPolicyRoutes(nil),
		NewReplayRoutes(nil, nil),
		NewTenantRoutes(nil, nil),
		NewHealthRoutes(nil),
		NewMetricsRoutes(http.NotFoundHandler(), ""),
		NewOpenAPIRoutes(),
		must(NewSchemaRoutes()),
		NewConsoleRoutes(),
	}
}

var (
	ginParam = regexp.MustCompile(`[:*][^/]+`)
	docParam = regexp.MustCompile(`\{[^/}]+\}`)
)

// routeKey is "METHOD /path/{}/..." with path parameters unnamed, so gin's
// ":id" and the document's "{rule_id}" compare equal.
func routeKey(method, path string, param *regexp.Regexp) string {
	return strings.ToUpper(method) + " " + param.ReplaceAllString(path, "{}")
}

// A route without documentation, or documentation without a route, fails
// the build.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	r := NewRouter(Config{MaxBodyBytes: 1 << 20}, zap.NewNop(), nil, nil, allRoutes())
	var served, documented []string
	for _, rt := range r.Routes() {
		served = append(served, routeKey(rt.Method, rt.Path, ginParam))
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, routeKey(method, path, docParam))
		}
	}
	var undocumented, unserved []string
	for _, k := range served {
		if !slices.Contains(documented, k) {
			undocumented = append(undocumented, k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(served, k) {
			unserved = append(unserved, k)
		}
	}
	assert.Empty(t, undocumented, "routes the router serves that openapi.json does not document")
	assert.Empty(t, unserved, "operations openapi.json documents that the router does not serve")
	assert.Len(t, documented, len(served), "one operation per route")
}

func TestOpenAPIRouteServesTheDocument(t *testing.T) {
	r := NewRouter(Config{MaxBodyBytes: 1 << 20}, zap.NewNop(), nil, nil, []Routes{NewOpenAPIRoutes()})
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Equal(t, openAPIDocument, w.Body.Bytes())
	assert.NotEmpty(t, w.Header().Get("X-Request-ID"))
}

// publicPaths need no token.
var publicPaths = []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/schemas/agent-bundle.json", "/console", "/console/{asset}"}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The document keeps the rules every response follows (docs/api.md):
// one error body with the status of each code, X-Request-ID everywhere,
// rate-limit headers on authenticated answers, the token everywhere but
// on the public routes.
func TestOpenAPIDocumentFollowsTheConventions(t *testing.T) {
	doc := loadOpenAPI(t)
	errorSchema := doc.Components.Schemas["Error"]
	require.NotNil(t, errorSchema)

	var codes []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		codes = append(codes, v.(string))
	}
	var table []string
	for code := range statusOf {
		table = append(table, string(code))
	}
	slices.Sort(codes)
	slices.Sort(table)
	assert.Equal(t, table, codes, "ErrorCode is the closed set of the status table")

	require.Len(t, doc.Security, 1)
	_, bearer := doc.Security[0]["bearerAuth"]
	require.True(t, bearer, "bearer authentication is global")

	for path, item := range doc.Paths.Map() {
		public := slices.Contains(publicPaths, path)
		for method, op := range item.Operations() {
			name := method + " " + path
			if public {
				assert.NotNil(t, op.Security, "%s: public routes override the global security", name)
				if op.Security != nil {
					assert.Empty(t, *op.Security, "%s: public routes need no token", name)
				}
			} else {
				assert.Nil(t, op.Security, "%s: only public routes override the global security", name)
				assert.NotNil(t, op.Responses.Status(http.StatusUnauthorized), "%s documents 401", name)
				assert.NotNil(t, op.Responses.Status(http.StatusTooManyRequests), "%s documents 429", name)
			}
			assert.NotNil(t, op.Responses.Status(http.StatusInternalServerError), "%s documents 500", name)
			assert.Equal(t, op.RequestBody != nil, op.Responses.Status(http.StatusUnsupportedMediaType) != nil,
				"%s: 415 is declared with a request body, and only then (the media type check comes with the body)", name)
			assert.Nil(t, op.Responses.Default(), "%s: every status is listed", name)
			for statusText, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(statusText)
				require.NoError(t, err, "%s: status %s", name, statusText)
				res := ref.Value
				where := name + " " + statusText
				require.Contains(t, res.Headers, "X-Request-ID", where)
				assert.True(t, res.Headers["X-Request-ID"].Value.Required, "%s: X-Request-ID is always sent", where)
				if !public && status != http.StatusUnauthorized {
					for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
						if assert.Contains(t, res.Headers, h, where) {
							// A request passes without them when the limiter fails
							// (TestRequestsPassWhenTheRateLimiterFails).
							assert.False(t, res.Headers[h].Value.Required, "%s: %s is absent when the limiter fails", where, h)
						}
					}
				}
				switch status {
				case http.StatusUnauthorized:
					assert.Contains(t, res.Headers, "WWW-Authenticate", where)
				case http.StatusTooManyRequests:
					assert.Contains(t, res.Headers, "Retry-After", where)
				case http.StatusCreated:
					assert.Contains(t, res.Headers, "Location", where)
				}
				if status < 400 {
					continue
				}
				mt := res.Content.Get("application/json")
				require.NotNil(t, mt, "%s: errors are JSON", where)
				require.Len(t, res.Content, 1, "%s: errors are JSON only", where)
				if slices.Contains(op.Tags, "openai") {
					checkErrorSchema(t, where, status, "OpenAIErrorBody", doc.Components.Schemas["OpenAIErrorBody"], mt.Schema)
					continue
				}
				checkErrorSchema(t, where, status, "Error", errorSchema, mt.Schema)
			}
		}
	}
}

// checkErrorSchema requires schema to be the named error schema (Error;
// OpenAIErrorBody on the OpenAI-compatible routes), or it narrowed to codes
// of exactly this status.
func checkErrorSchema(t *testing.T, where string, status int, name string, errorSchema, schema *openapi3.SchemaRef) {
	t.Helper()
	require.NotNil(t, errorSchema, "%s: the document has the schema %s", where, name)
	ref := "#/components/schemas/" + name
	if schema.Ref == ref {
		return
	}
	all := schema.Value.AllOf
	require.Len(t, all, 2, "%s: the error body is %s, or allOf it and its codes", where, name)
	assert.Equal(t, ref, all[0].Ref, where)
	assert.Same(t, errorSchema.Value, all[0].Value, where)
	code := all[1].Value.Properties["error"].Value.Properties["code"].Value
	require.NotEmpty(t, code.Enum, "%s: the codes of the status", where)
	for _, c := range code.Enum {
		assert.Equal(t, status, HTTPStatus(domain.ErrorCode(c.(string))), "%s: code %s", where, c)
	}
}

// codesOf is the error codes a response of status may carry: those its
// schema narrows the error body to, else every code of the status.
func codesOf(status int, schema *openapi3.SchemaRef) []domain.ErrorCode {
	var codes []domain.ErrorCode
	if all := schema.Value.AllOf; len(all) == 2 {
		for _, c := range all[1].Value.Properties["error"].Value.Properties["code"].Value.Enum {
			codes = append(codes, domain.ErrorCode(c.(string)))
		}
		return codes
	}
	for code, s := range statusOf {
		if s == status {
			codes = append(codes, code)
		}
	}
	return codes
}

// The OpenAI-compatible routes list exactly the error types their declared
// answers are given, and declare no 403: they check no role and read no
// tenant from a request, so neither FORBIDDEN nor TENANT_MISMATCH reaches
// them (a permission_error listed, or a 403 declared, would promise SDK
// users an error the service never sends).
func TestOpenAPIOpenAIErrorTypesAreTheDeclaredStatuses(t *testing.T) {
	doc := loadOpenAPI(t)
	var types []string
	ops := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !slices.Contains(op.Tags, "openai") {
				continue
			}
			ops++
			assert.Nil(t, op.Responses.Status(http.StatusForbidden), "%s %s: no 403 can reach it", method, path)
			for statusText, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(statusText)
				require.NoError(t, err)
				if status < 400 {
					continue
				}
				for _, code := range codesOf(status, ref.Value.Content.Get("application/json").Schema) {
					types = append(types, openAIErrorType(status, code))
				}
			}
		}
	}
	assert.Equal(t, 2, ops, "the OpenAI-compatible operations")
	var listed []string
	for _, v := range doc.Components.Schemas["OpenAIErrorBody"].Value.Properties["error"].Value.Properties["type"].Value.Enum {
		listed = append(listed, v.(string))
	}
	slices.Sort(types)
	slices.Sort(listed)
	assert.Equal(t, slices.Compact(types), listed, "OpenAIErrorBody's types are those of the declared statuses")
}

// Every route answers a declared body over its limit with 413, before
// authentication (limitBody runs for all of them), so every operation
// declares 413; the document states the limits' defaults.
func TestOpenAPIDeclaresPayloadTooLargeOnEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	cfg := Config{MaxBodyBytes: 1 << 20, MaxBundleBytes: 4 << 20}
	r := NewRouter(cfg, zap.NewNop(), nil, nil, allRoutes())
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[routeKey(method, path, docParam)] = op
		}
	}
	for _, rt := range r.Routes() {
		limit := cfg.MaxBodyBytes
		if rt.Path == bundleRoute || rt.Path == replayRoute {
			limit = cfg.MaxBundleBytes
		}
		req := httptest.NewRequest(rt.Method, ginParam.ReplaceAllString(rt.Path, "x"), strings.NewReader("{}"))
		req.ContentLength = limit + 1
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		name := rt.Method + " " + rt.Path
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code, name)
		if op := ops[routeKey(rt.Method, rt.Path, ginParam)]; assert.NotNil(t, op, name) {
			assert.NotNil(t, op.Responses.Status(http.StatusRequestEntityTooLarge), "%s documents 413", name)
		}
	}
	for _, name := range []string{"PayloadTooLarge", "OpenAIPayloadTooLarge"} {
		text := *doc.Components.Responses[name].Value.Description
		assert.Contains(t, text, mebibytes(t, "MaxBodyBytes")+"; bundle imports and replays FOCAL_HTTP_MAX_BUNDLE_BYTES, "+mebibytes(t, "MaxBundleBytes"), name)
	}
}

// mebibytes is the default of the Config field, as "N MiB".
func mebibytes(t *testing.T, field string) string {
	t.Helper()
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	require.True(t, ok, field)
	n, err := strconv.Atoi(f.Tag.Get("envDefault"))
	require.NoError(t, err, field)
	require.Zero(t, n%(1<<20), "%s: a whole number of MiB", field)
	return strconv.Itoa(n>>20) + " MiB"
}

// A method a path does not declare is answered 405 METHOD_NOT_ALLOWED in
// the service's error body, whatever the path and before authentication
// (the requests carry no token), with an Allow header that lists the
// methods the document declares for it (RFC 9110 §15.5.6). The
// document cannot declare these answers (an OpenAPI response belongs to a
// declared method), so docs/api.md states them and this test holds both
// to the router.
func TestUndeclaredMethodsAreNotAllowed(t *testing.T) {
	doc := loadOpenAPI(t)
	r := NewRouter(Config{MaxBodyBytes: 1 << 20}, zap.NewNop(), nil, nil, allRoutes())
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace}
	for path, item := range doc.Paths.Map() {
		var declared []string
		for method := range item.Operations() {
			declared = append(declared, method)
		}
		slices.Sort(declared)
		target := docParam.ReplaceAllString(path, "x")
		for _, method := range methods {
			if slices.Contains(declared, method) {
				continue
			}
			name := method + " " + path
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(method, target, nil))
			require.Equal(t, http.StatusMethodNotAllowed, w.Code, "%s: %s", name, w.Body)
			allow := strings.Split(w.Header().Get("Allow"), ", ")
			slices.Sort(allow)
			assert.Equal(t, declared, allow, "%s: Allow lists the declared methods", name)
			var body ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "%s: %s", name, w.Body)
			assert.Equal(t, CodeMethodNotAllowed, body.Error.Code, name)
			assert.NotEmpty(t, body.Error.RequestID, name)
		}
	}
}
