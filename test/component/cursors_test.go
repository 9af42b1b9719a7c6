package component

import (
	"encoding/base64"
	"net/http"
	"strings"
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
		query := "?limit=1&cursor="
		if path == "/v1/tenant/models" { // one page: it takes no limit
			query = "?cursor="
		}
		body := requireError(t, admin.do(http.MethodGet, path+query+cursor, nil), http.StatusBadRequest, "INVALID_REQUEST")
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

// The turns of a session, and the versions and each kind of policy part of
// an agent, are a listing of their own for each session or agent: another
// session's (agent's) next_cursor is 400 INVALID_REQUEST on the field
// cursor, though it names a turn number (a version, a part id) that the
// listing has too. Each one's own cursors page through all of it.
func TestAParentsListingsReadOnlyItsOwnCursors(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	// The twin of the demo agent has its parts, with the same ids (and one
	// tool more), and as many versions.
	demo, twin := "/v1/agents/"+harness.DemoAgent, "/v1/agents/3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	admin.must(http.StatusCreated, http.MethodPost, demo+"/tools", map[string]any{"id": "crm", "url": "https://crm.example.com"})
	bundle := admin.must(http.StatusOK, http.MethodGet, demo+"/bundle", nil)
	agent, _ := bundle["agent"].(map[string]any)
	require.NotNil(t, agent, "the bundle names its agent: %v", bundle)
	delete(agent, "id")
	admin.must(http.StatusCreated, http.MethodPut, twin+"/bundle", bundle)
	admin.must(http.StatusCreated, http.MethodPost, twin+"/tools", map[string]any{"id": "erp", "url": "https://erp.example.com"})
	// Two sessions of two turns each.
	var sessions [2]string
	for i, user := range []string{"parent-a", "parent-b"} {
		_, first := chat(t, app, admin.token, harness.ChatBody(user, "hello"))
		sessions[i], _ = first["session_id"].(string)
		require.NotEmpty(t, sessions[i], "%v", first)
		again := harness.ChatBody(user, "what time do you close?")
		again["session_id"] = sessions[i]
		chat(t, app, admin.token, again)
	}

	pairs := [][2]string{{"/v1/sessions/" + sessions[0] + "/turns", "/v1/sessions/" + sessions[1] + "/turns"},
		{"/v1/sessions/" + sessions[0] + "/turns?order=desc", "/v1/sessions/" + sessions[1] + "/turns?order=desc"}}
	for _, listing := range []string{"/versions", "/rules", "/scenarios", "/templates", "/tools", "/variables"} {
		pairs = append(pairs, [2]string{demo + listing, twin + listing})
	}
	for _, pair := range pairs {
		for i, path := range pair {
			other := pair[1-i]
			whole := admin.must(http.StatusOK, http.MethodGet, withQuery(path, "limit=100"), nil)
			var paged []any
			cursor := ""
			for range 100 {
				page := admin.must(http.StatusOK, http.MethodGet, withQuery(path, "limit=1&cursor="+cursor), nil)
				items, _ := page["items"].([]any)
				paged = append(paged, items...)
				if cursor, _ = page["next_cursor"].(string); cursor == "" {
					break
				}
				res := admin.do(http.MethodGet, withQuery(other, "limit=1&cursor="+cursor), nil)
				body := requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
				require.NotEmpty(t, body.Error.Details, "%s with a cursor of %s", other, path)
				require.Equal(t, "cursor", body.Error.Details[0].Field, "%s with a cursor of %s", other, path)
			}
			require.GreaterOrEqual(t, len(paged), 2, "%s: two items at least", path)
			require.Equal(t, whole["items"], paged, "%s: paged one at a time", path)
		}
	}
}

// withQuery adds query to path, which may have a query already.
func withQuery(path, query string) string {
	if strings.Contains(path, "?") {
		return path + "&" + query
	}
	return path + "?" + query
}
