package component

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// demoToolsHost is where make run serves the demo's order lookup, and what
// it allows tools to reach with FOCAL_TOOLS_ALLOWED_HOSTS.
const demoToolsHost = "127.0.0.1:8081"

// A tool at an address tool calls may not reach is stored, and the write
// answers with a warning that says so, on the tool's url; the bundle import
// warns of it too. A public address, and a host the operator allows, get
// none.
func TestToolWritesWarnOfAddressesToolCallsMayNotReach(t *testing.T) {
	app := harness.Start(t, map[string]string{"FOCAL_TOOLS_ALLOWED_HOSTS": demoToolsHost})
	admin := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
	id, _ := newBikeShop(t, admin)
	base := "/v1/agents/" + id
	type warning struct{ Code, Field, Message string }
	write := func(status int, method, path string, tool map[string]any) []warning {
		t.Helper()
		res := admin.do(method, base+path, tool)
		require.Equal(t, status, res.Status, "the warning never refuses the write: %s", res.Body)
		var answer struct {
			ID       string    `json:"id"`
			Warnings []warning `json:"warnings"`
		}
		res.JSON(t, &answer)
		require.NotNil(t, answer.Warnings, "tool writes answer with warnings: %s", res.Body)
		return answer.Warnings
	}

	got := write(http.StatusCreated, http.MethodPost, "/tools", map[string]any{"id": "metadata", "url": "http://169.254.169.254/latest/meta-data"})
	require.Len(t, got, 1, "%+v", got)
	assert.Equal(t, "tool_address_refused", got[0].Code)
	assert.Equal(t, "url", got[0].Field, "the field is the tool's own")
	assert.Contains(t, got[0].Message, "169.254.169.254 is link-local (169.254.0.0/16, cloud metadata)")
	assert.Contains(t, got[0].Message, "FOCAL_TOOLS_ALLOWED_HOSTS")
	admin.must(http.StatusOK, http.MethodGet, base+"/tools/metadata", nil)

	assert.Equal(t, []warning{}, write(http.StatusCreated, http.MethodPost, "/tools",
		map[string]any{"id": "crm", "url": "https://crm.example.com/hook"}), "a public host: no warning")
	assert.Equal(t, []warning{}, write(http.StatusCreated, http.MethodPost, "/tools",
		map[string]any{"id": "orders", "url": "http://" + demoToolsHost + "/orders/lookup"}), "a host the operator allows: no warning")
	got = write(http.StatusOK, http.MethodPut, "/tools/orders", map[string]any{"url": "http://127.0.0.1:8082/orders/lookup"})
	require.Len(t, got, 1, "another port of an allowed host:port is not allowed: %+v", got)
	assert.Equal(t, warning{Code: "tool_address_refused", Field: "url", Message: got[0].Message}, got[0])
	assert.Contains(t, got[0].Message, "127.0.0.1 is loopback")

	bundle := admin.must(http.StatusOK, http.MethodGet, base+"/bundle", nil)
	res := admin.do(http.MethodPut, base+"/bundle", bundle)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var imported struct {
		Tools    []struct{ ID string } `json:"tools"`
		Warnings []warning             `json:"warnings"`
	}
	res.JSON(t, &imported)
	refused := map[string]bool{}
	for _, w := range imported.Warnings {
		if w.Code == "tool_address_refused" {
			refused[w.Field] = true
		}
	}
	want := map[string]bool{}
	for i, tool := range imported.Tools {
		if tool.ID == "metadata" || tool.ID == "orders" {
			want[fmt.Sprintf("tools[%d].url", i)] = true
		}
	}
	assert.Len(t, want, 2)
	assert.Equal(t, want, refused, "%+v", imported.Warnings)
}
