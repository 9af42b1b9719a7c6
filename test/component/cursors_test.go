package component

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
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
			requireOwnCursorsOnly(t, listing{admin, path, path}, listing{admin, other, other})
		}
	}
}

// listing is a listing as one tenant's token reads it, named for messages.
type listing struct {
	api        policyAPI
	path, name string
}

// requireOwnCursorsOnly pages through mine one item a page, two items at
// least, and requires every next_cursor to be 400 INVALID_REQUEST on the
// field cursor in theirs; the pages list what one page lists.
func requireOwnCursorsOnly(t *testing.T, mine, theirs listing) {
	t.Helper()
	whole := mine.api.must(http.StatusOK, http.MethodGet, withQuery(mine.path, "limit=100"), nil)
	var paged []any
	cursor := ""
	for range 100 {
		page := mine.api.must(http.StatusOK, http.MethodGet, withQuery(mine.path, "limit=1&cursor="+cursor), nil)
		items, _ := page["items"].([]any)
		paged = append(paged, items...)
		if cursor, _ = page["next_cursor"].(string); cursor == "" {
			break
		}
		res := theirs.api.do(http.MethodGet, withQuery(theirs.path, "limit=1&cursor="+cursor), nil)
		body := requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
		require.NotEmpty(t, body.Error.Details, "%s with a cursor of %s", theirs.name, mine.name)
		require.Equal(t, "cursor", body.Error.Details[0].Field, "%s with a cursor of %s", theirs.name, mine.name)
	}
	require.GreaterOrEqual(t, len(paged), 2, "%s: two items at least", mine.name)
	require.Equal(t, whole["items"], paged, "%s: paged one at a time", mine.name)
}

// withQuery adds query to path, which may have a query already.
func withQuery(path, query string) string {
	if strings.Contains(path, "?") {
		return path + "&" + query
	}
	return path + "?" + query
}

// A listing is one of its own for each tenant: tenant B's request with a
// next_cursor of tenant A's same listing (and A's with B's) is 400
// INVALID_REQUEST on the field cursor, though B's listing has the key it
// names (the same agent ids, the same versions and part ids of the same
// agent id) and a page after it would be no error. B's listing of a
// session's turns is of A's session, which B cannot see: the cursor is
// refused before the session is looked for, as base64url garbage is. Each
// tenant's own cursors page through all of its listing.
func TestAnotherTenantsCursorsAreRefused(t *testing.T) {
	app := harness.Start(t, nil)
	tenants := [2]policyAPI{{t, app, harness.Token(t, harness.DemoTenant, "admin")},
		{t, app, harness.Token(t, uuid.NewString(), "admin")}}
	demo := "/v1/agents/" + harness.DemoAgent
	// Tenant B has the demo agent too, under the same id, with the same
	// parts; each tenant adds a tool (a second version) and a second agent.
	bundle := tenants[0].must(http.StatusOK, http.MethodGet, demo+"/bundle", nil)
	agent, _ := bundle["agent"].(map[string]any)
	require.NotNil(t, agent, "the bundle names its agent: %v", bundle)
	delete(agent, "id")
	tenants[1].must(http.StatusCreated, http.MethodPut, demo+"/bundle", bundle)
	var sessions [2]string
	for i, tenant := range tenants {
		tenant.must(http.StatusCreated, http.MethodPost, demo+"/tools", map[string]any{"id": "crm", "url": "https://crm.example.com"})
		tenant.must(http.StatusCreated, http.MethodPost, "/v1/agents", map[string]any{"name": "second"})
		// Two sessions, the first of two turns.
		_, first := chat(t, app, tenant.token, harness.ChatBody("first-user", "hello"))
		sessions[i], _ = first["session_id"].(string)
		require.NotEmpty(t, sessions[i], "%v", first)
		again := harness.ChatBody("first-user", "what time do you close?")
		again["session_id"] = sessions[i]
		chat(t, app, tenant.token, again)
		chat(t, app, tenant.token, harness.ChatBody("second-user", "hello"))
	}

	names := [2]string{"A", "B"}
	for i, mine := range tenants {
		theirs := tenants[1-i]
		listings := []string{"/v1/sessions", "/v1/sessions/" + sessions[i] + "/turns", "/v1/sessions/" + sessions[i] + "/turns?order=desc",
			"/v1/agents", demo + "/versions", demo + "/rules", demo + "/scenarios", demo + "/templates", demo + "/tools", demo + "/variables"}
		for _, path := range listings {
			requireOwnCursorsOnly(t, listing{mine, path, "tenant " + names[i] + "'s " + path},
				listing{theirs, path, "tenant " + names[1-i] + "'s " + path})
		}
	}
}

// The document's example cursors are the demo tenant's, as cursors name
// their tenant: every listing that takes a cursor reads its example back
// for the demo tenant, with the document's example path (the example
// session of the turns does not exist: 404, which comes only once the
// cursor is read).
func TestTheDocumentsExampleCursorsAreTheDemoTenants(t *testing.T) {
	app := harness.Start(t, nil)
	demo := harness.Token(t, harness.DemoTenant, "admin")
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	require.NoError(t, err)
	examples := 0
	for docPath, item := range doc.Paths.Map() {
		if item.Get == nil {
			continue
		}
		path, cursor := docPath, ""
		for _, p := range append(item.Parameters, item.Get.Parameters...) {
			switch {
			case p.Value.In == openapi3.ParameterInPath:
				path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", fmt.Sprint(p.Value.Example))
			case p.Value.In == openapi3.ParameterInQuery && p.Value.Name == "cursor":
				cursor, _ = p.Value.Example.(string)
			}
		}
		if cursor == "" {
			continue // a listing of one page, which issues no cursor
		}
		examples++
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: path + "?cursor=" + cursor, Token: demo})
		assert.NotEqual(t, http.StatusBadRequest, res.Status, "%s with its example cursor: %s", path, res.Body)
	}
	assert.GreaterOrEqual(t, examples, 9, "the sessions, turns, agents, versions and five kinds of parts have example cursors")
}
