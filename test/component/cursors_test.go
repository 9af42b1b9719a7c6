package component

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// Every listing reads only the cursors it issued, as openapi.json says:
// its own next_cursor pages on, while another listing's next_cursor,
// base64url garbage, and its own cursor with a NUL or an invalid UTF-8
// byte added are 400 INVALID_REQUEST on the field cursor. The tenant's
// model keys are one page and issue no cursor: any cursor is 400 there.
func TestListingsReadOnlyTheirOwnCursors(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	demo := "/v1/agents/" + harness.DemoAgent
	// Two items at least in every listing: a second tool (and so a second
	// version of the demo agent), a second agent, two sessions, two turns.
	admin.must(http.StatusCreated, http.MethodPost, demo+"/tools", map[string]any{"id": "crm", "url": "https://crm.example.com"})
	admin.must(http.StatusCreated, http.MethodPost, "/v1/agents", map[string]any{"name": "second"})
	_, first := chat(t, app, admin.token, harness.ChatBody("cursor-a", "hello"))
	session, _ := first["session_id"].(string)
	require.NotEmpty(t, session, "%v", first)
	again := harness.ChatBody("cursor-a", "what time do you close?")
	again["session_id"] = session
	chat(t, app, admin.token, again)
	chat(t, app, admin.token, harness.ChatBody("cursor-b", "hello"))

	listings := []string{"/v1/sessions", "/v1/sessions/" + session + "/turns", "/v1/agents", demo + "/versions",
		demo + "/rules", demo + "/scenarios", demo + "/templates", demo + "/tools", demo + "/variables"}
	issued := map[string]string{}
	for _, path := range listings {
		page := admin.must(http.StatusOK, http.MethodGet, path+"?limit=1", nil)
		next, _ := page["next_cursor"].(string)
		require.NotEmpty(t, next, "%s: a first page of one has a next cursor", path)
		issued[path] = next
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	garbage := []string{"zzz", raw("garbage"), raw("\x00"), raw("a\x00b"), raw("\xff\xfe")}

	refused := func(path, cursor string) {
		t.Helper()
		body := requireError(t, admin.do(http.MethodGet, path+"?limit=1&cursor="+cursor, nil), http.StatusBadRequest, "INVALID_REQUEST")
		require.NotEmpty(t, body.Error.Details, "%s with cursor %s", path, cursor)
		require.Equal(t, "cursor", body.Error.Details[0].Field, "%s with cursor %s", path, cursor)
	}
	for _, path := range listings {
		admin.must(http.StatusOK, http.MethodGet, path+"?limit=1&cursor="+issued[path], nil)
		for other, cursor := range issued {
			if other != path {
				refused(path, cursor)
			}
		}
		for _, cursor := range garbage {
			refused(path, cursor)
		}
		own, err := base64.RawURLEncoding.DecodeString(issued[path])
		require.NoError(t, err, "a next cursor is base64url")
		refused(path, raw(string(own)+"\x00"))
		refused(path, raw(string(own)+"\xff"))
	}

	admin.must(http.StatusOK, http.MethodGet, "/v1/tenant/models", nil)
	admin.must(http.StatusOK, http.MethodGet, "/v1/tenant/models?cursor=", nil)
	for _, cursor := range append(garbage, issued["/v1/agents"], issued[demo+"/rules"]) {
		refused("/v1/tenant/models", cursor)
	}
}
