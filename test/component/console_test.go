package component

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/bundleschema"
	"focal/test/harness"
)

// The console's files are served without a token, each with its media type
// and the console's Content-Security-Policy; an unknown file is 404 with
// the error body.
func TestConsoleFiles(t *testing.T) {
	app := harness.Start(t, nil)
	for path, mediaType := range map[string]string{
		"/console":             "text/html; charset=utf-8",
		"/console/console.js":  "text/javascript; charset=utf-8",
		"/console/api.js":      "text/javascript; charset=utf-8",
		"/console/explain.js":  "text/javascript; charset=utf-8",
		"/console/flow.js":     "text/javascript; charset=utf-8",
		"/console/console.css": "text/css; charset=utf-8",
		"/console/icon.svg":    "image/svg+xml",
	} {
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: path})
		require.Equal(t, http.StatusOK, res.Status, path)
		assert.Equal(t, mediaType, res.Header.Get("Content-Type"), path)
		csp := res.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "default-src 'none'", path)
		assert.Contains(t, csp, "script-src 'self'", path)
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		assert.NotEmpty(t, res.Body, path)
	}
	for _, path := range []string{"/console/missing.js", "/console/..%2fopenapi.go", "/console/console.go"} {
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: path})
		assert.Equal(t, http.StatusNotFound, res.Status, path)
	}
}

// The bundle schema is served without a token, as generated.
func TestBundleSchemaIsServed(t *testing.T) {
	app := harness.Start(t, nil)
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: bundleschema.Path})
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "application/schema+json", res.Header.Get("Content-Type"))
	want, err := bundleschema.Generate()
	require.NoError(t, err)
	assert.Equal(t, string(want), string(res.Body))
}
