package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The demo lookup names the item of a well-formed order and refuses
// anything else, as the demo agent's confirmation relies on.
func TestDemoOrderLookup(t *testing.T) {
	h := demoTools()
	call := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/orders/lookup", strings.NewReader(body)))
		return w
	}
	w := call(`{"message": "too tight", "variables": {"order_id": "AC-123456"}, "turn_id": "t", "tool_id": "order_lookup"}`)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"variables": {"item_name": "red summer dress"}}`, w.Body.String())
	assert.Equal(t, http.StatusNotFound, call(`{"variables": {"order_id": "AC-12345"}}`).Code)
	assert.Equal(t, http.StatusBadRequest, call(`not json`).Code)
}
