package httpapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/zap"
)

// Every route the router serves finds its operation's query parameters:
// gin's form of a route and the document's meet, so no route takes
// nothing because its key was spelt another way.
func TestEveryRouteFindsItsQueryParameters(t *testing.T) {
	r := NewRouter(Config{MaxBodyBytes: 1 << 20}, zap.NewNop(), nil, nil, allRoutes())
	for _, rt := range r.Routes() {
		_, ok := queryParams[operationKey(rt.Method, rt.Path)]
		assert.True(t, ok, "%s %s has no operation in openapi.json", rt.Method, rt.Path)
	}
	assert.Equal(t, []string{"agent_id", "status", "limit", "cursor"}, queryParams[operationKey("GET", "/v1/sessions")])
	assert.Equal(t, []string{"order", "limit", "cursor"}, queryParams[operationKey("GET", "/v1/sessions/:session_id/turns")])
	assert.Empty(t, queryParams[operationKey("GET", "/v1/turns/:turn_id")])
}
