package component

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"gopkg.in/yaml.v3"

	"focal/ports"
	"focal/test/harness"
)

// policyAPI calls the policy API of one app as one caller.
type policyAPI struct {
	t     *testing.T
	app   *harness.App
	token string
}

func (p policyAPI) do(method, path string, body any, headers ...string) *harness.Response {
	p.t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return p.app.Do(p.t, harness.Request{Method: method, Path: path, Token: p.token, Body: body, Headers: h})
}

// must calls and requires status, returning the decoded JSON body (nil for
// an empty one).
func (p policyAPI) must(status int, method, path string, body any, headers ...string) map[string]any {
	p.t.Helper()
	res := p.do(method, path, body, headers...)
	require.Equal(p.t, status, res.Status, "%s %s: %s", method, path, res.Body)
	if len(res.Body) == 0 {
		return nil
	}
	var m map[string]any
	res.JSON(p.t, &m)
	return m
}

// etag is a response's agent version.
func etag(t *testing.T, res *harness.Response) int64 {
	t.Helper()
	raw := res.Header.Get("ETag")
	require.Regexp(t, `^"[0-9]+"$`, raw, "ETag of %s", res.Body)
	v, err := strconv.ParseInt(strings.Trim(raw, `"`), 10, 64)
	require.NoError(t, err)
	return v
}

func ifMatch(v int64) []string { return []string{"If-Match", fmt.Sprintf(`"%d"`, v)} }

// The parts of the bike shop agent the tests build through the API.
var (
	bikeTemplates = []map[string]any{
		{"id": "tpl_hours", "mode": "exclusive", "text": "We are open from 8am to 6pm every day."},
		{"id": "tpl_hours_summer", "mode": "exclusive", "text": "In summer we are open from 7am to 9pm every day."},
		{"id": "tpl_ask_bike", "mode": "exclusive", "text": "Happy to repair it! Is it a road bike or a mountain bike?"},
		{"id": "tpl_booked", "mode": "exclusive", "text": "Your {channel} repair booking is confirmed. Bring the bike in tomorrow."},
		{"id": "tpl_fallback", "mode": "fallback", "text": "Sorry, I can only help with opening hours and repairs."},
	}
	hoursRule = map[string]any{
		"id": "opening_hours", "condition": "opening hours; when are you open; what time do you open",
		"action": "Give the opening hours.", "template_ids": []string{"tpl_hours"},
	}
	repairScenario = map[string]any{
		"id": "repair", "name": "Book a repair",
		"entry_condition": "book a repair; repair my bike; fix my bike",
		"entry_step_id":   "ask_bike",
		"steps": []map[string]any{
			{"id": "ask_bike", "instructions": "Ask which kind of bike it is.", "template_ids": []string{"tpl_ask_bike"},
				"transitions": []map[string]any{{"to": "booked", "condition": "road bike; mountain bike"}}},
			{"id": "booked", "terminal": true, "template_ids": []string{"tpl_booked"}},
		},
	}
)

// newBikeShop creates the bike shop agent in tenant through the API and
// returns its id and version.
func newBikeShop(t *testing.T, api policyAPI) (string, int64) {
	t.Helper()
	res := api.do(http.MethodPost, "/v1/agents", map[string]any{
		"name":          "Bike shop assistant",
		"system_prompt": "You help the customers of a bike shop.",
		"settings":      map[string]any{"match_threshold": 0.6, "scenario_entry_threshold": 0.5, "transition_threshold": 0.5},
	})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	var agent map[string]any
	res.JSON(t, &agent)
	id := agent["id"].(string)
	require.Len(t, id, 36)
	assert.Equal(t, "/v1/agents/"+id, res.Header.Get("Location"))
	assert.EqualValues(t, 1, etag(t, res))
	assert.EqualValues(t, 1, agent["version"])
	assert.Equal(t, true, agent["enabled"], "agents are enabled unless told otherwise")

	base := "/v1/agents/" + id
	version := int64(1)
	post := func(path string, body map[string]any) {
		res := api.do(http.MethodPost, base+path, body, ifMatch(version)...)
		require.Equal(t, http.StatusCreated, res.Status, "POST %s: %s", path, res.Body)
		assert.Equal(t, base+path+"/"+body["id"].(string), res.Header.Get("Location"))
		version++
		assert.Equal(t, version, etag(t, res), "every change is a new version")
	}
	for _, tpl := range bikeTemplates {
		post("/templates", tpl)
	}
	post("/rules", hoursRule)
	post("/scenarios", repairScenario)
	return id, version
}

func chatWith(t *testing.T, app *harness.App, token, agentID, user, message string) map[string]any {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: map[string]any{
		"agent_id": agentID, "channel": "webchat", "user_channel_id": user, "message": message,
	}})
	require.Equal(t, http.StatusOK, res.Status, "chat %q: %s", message, res.Body)
	var m map[string]any
	res.JSON(t, &m)
	return m
}

// An agent built through the API answers chats; a rule change is served
// by the very next turn; the bundle round-trips; a template still in use
// cannot be deleted.
func TestPolicyLifecycle(t *testing.T) {
	// A long refresh: only the writing instance's own cache update can make
	// the next turn see a change.
	app := harness.Start(t, map[string]string{"FOCAL_POLICY_REFRESH": "1m"})
	tenant := uuid.NewString()
	admin := policyAPI{t, app, harness.Token(t, tenant, "admin")}
	reader := harness.Token(t, tenant)
	id, version := newBikeShop(t, admin)
	base := "/v1/agents/" + id

	// Reads: the agent, a part, lists with their ETag.
	res := admin.do(http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, version, etag(t, res))
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: base + "/scenarios/repair", Token: reader})
	require.Equal(t, http.StatusOK, res.Status, "any caller of the tenant reads: %s", res.Body)
	var scenario map[string]any
	res.JSON(t, &scenario)
	assert.Equal(t, "ask_bike", scenario["entry_step_id"])
	assert.Len(t, scenario["steps"], 2)

	t.Run("chat uses the agent", func(t *testing.T) {
		got := chatWith(t, app, reader, id, "rider-1", "What are your opening hours?")
		assert.Equal(t, "We are open from 8am to 6pm every day.", got["response"])
		assert.Equal(t, []any{"opening_hours"}, got["matched_rules"])
		assert.Nil(t, got["scenario"])

		got = chatWith(t, app, reader, id, "rider-2", "Can you fix my bike? I want to book a repair")
		assert.Equal(t, "Happy to repair it! Is it a road bike or a mountain bike?", got["response"])
		assert.Equal(t, map[string]any{"id": "repair", "step": "ask_bike"}, got["scenario"])
		got = chatWith(t, app, reader, id, "rider-2", "It is a mountain bike")
		assert.Equal(t, "Your webchat repair booking is confirmed. Bring the bike in tomorrow.", got["response"])
		assert.Equal(t, map[string]any{"id": "repair", "step": "booked"}, got["scenario"])
	})

	t.Run("a rule change is served by the next turn", func(t *testing.T) {
		rule := map[string]any{}
		for k, v := range hoursRule {
			rule[k] = v
		}
		rule["template_ids"] = []string{"tpl_hours_summer"}
		rule["id"] = "ignored: the path names the rule"
		res := admin.do(http.MethodPut, base+"/rules/opening_hours", rule, ifMatch(version)...)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		version++
		assert.Equal(t, version, etag(t, res))
		var saved map[string]any
		res.JSON(t, &saved)
		assert.Equal(t, "opening_hours", saved["id"])

		got := chatWith(t, app, reader, id, "rider-3", "When are you open?")
		assert.Equal(t, "In summer we are open from 7am to 9pm every day.", got["response"])
		assert.Equal(t, []any{"opening_hours"}, got["matched_rules"])
	})

	t.Run("bundle export and re-import", func(t *testing.T) {
		res := admin.do(http.MethodGet, base+"/bundle", nil)
		require.Equal(t, http.StatusOK, res.Status)
		assert.Equal(t, version, etag(t, res))
		var exported map[string]any
		res.JSON(t, &exported)
		agent := exported["agent"].(map[string]any)
		assert.Equal(t, id, agent["id"])
		assert.NotContains(t, agent, "tenant_id", "a bundle imports into any tenant")
		assert.Len(t, exported["rules"], 1)
		assert.Len(t, exported["templates"], len(bikeTemplates))
		assert.Equal(t, []any{}, exported["tools"], "every list is present")

		res = admin.do(http.MethodGet, base+"/bundle", nil, "Accept", "application/yaml")
		require.Equal(t, http.StatusOK, res.Status)
		assert.Contains(t, res.Header.Get("Content-Type"), "application/yaml")
		assert.Contains(t, string(res.Body), "entry_step_id: ask_bike")
		var fromYAML map[string]any
		require.NoError(t, yaml.Unmarshal(res.Body, &fromYAML))
		assert.Equal(t, id, fromYAML["agent"].(map[string]any)["id"])

		// The YAML export re-imported is one new version with the same parts.
		res = admin.do(http.MethodPut, base+"/bundle", res.Body, append(ifMatch(version), "Content-Type", "application/yaml")...)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		version++
		assert.Equal(t, version, etag(t, res))
		var reimported map[string]any
		res.JSON(t, &reimported)
		for _, part := range []string{"rules", "scenarios", "templates", "tools"} {
			assert.Equal(t, exported[part], reimported[part], part)
		}
		assert.EqualValues(t, version, reimported["agent"].(map[string]any)["version"])

		// So is the JSON export, without If-Match.
		res = admin.do(http.MethodPut, base+"/bundle", exported)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		version++
		assert.Equal(t, version, etag(t, res))

		got := chatWith(t, app, reader, id, "rider-4", "What time do you open?")
		assert.Equal(t, "In summer we are open from 7am to 9pm every day.", got["response"])
	})

	t.Run("a template in use cannot be deleted", func(t *testing.T) {
		res := admin.do(http.MethodDelete, base+"/templates/tpl_hours_summer", nil)
		body := requireError(t, res, http.StatusBadRequest, "INVALID_REQUEST")
		assert.Contains(t, body.Error.Message, "tpl_hours_summer is still in use")
		require.Len(t, body.Error.Details, 1)
		assert.Equal(t, "rules[0].template_ids[0]", body.Error.Details[0].Field)
		assert.Contains(t, body.Error.Details[0].Message, "tpl_hours_summer")

		// One not in use goes, as a new version.
		res = admin.do(http.MethodDelete, base+"/templates/tpl_hours", nil, ifMatch(version)...)
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		version++
		assert.Equal(t, version, etag(t, res))
		requireError(t, admin.do(http.MethodGet, base+"/templates/tpl_hours", nil), http.StatusNotFound, "NOT_FOUND")
	})

	t.Run("lists page by id", func(t *testing.T) {
		var ids []string
		path := base + "/templates?limit=2"
		for range 10 {
			res := admin.do(http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			assert.Equal(t, version, etag(t, res))
			var page struct {
				Items      []map[string]any `json:"items"`
				NextCursor *string          `json:"next_cursor"`
			}
			res.JSON(t, &page)
			for _, it := range page.Items {
				ids = append(ids, it["id"].(string))
			}
			if page.NextCursor == nil {
				break
			}
			path = base + "/templates?limit=2&cursor=" + *page.NextCursor
		}
		assert.Equal(t, []string{"tpl_ask_bike", "tpl_booked", "tpl_fallback", "tpl_hours_summer"}, ids)

		var agents struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents", Token: reader})
		require.Equal(t, http.StatusOK, res.Status)
		res.JSON(t, &agents)
		require.Len(t, agents.Items, 1, "only the tenant's own agents")
		assert.Equal(t, id, agents.Items[0]["id"])
		assert.Nil(t, agents.NextCursor)
	})

	t.Run("agent update and delete", func(t *testing.T) {
		res := admin.do(http.MethodPut, "/v1/agents/"+strings.ToUpper(id), map[string]any{
			"name": "Bike shop", "enabled": false, "settings": map[string]any{"match_threshold": 0.6},
		}, ifMatch(version)...)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		version++
		var agent map[string]any
		res.JSON(t, &agent)
		assert.Equal(t, "Bike shop", agent["name"])
		assert.Equal(t, false, agent["enabled"])
		assert.EqualValues(t, version, agent["version"])
		res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: reader, Body: map[string]any{
			"agent_id": id, "channel": "webchat", "user_channel_id": "rider-5", "message": "hello"}})
		requireError(t, res, http.StatusNotFound, "AGENT_NOT_FOUND")
		// Rules survived the agent update.
		admin.must(http.StatusOK, http.MethodGet, base+"/rules/opening_hours", nil)

		admin.must(http.StatusNoContent, http.MethodDelete, base, nil, ifMatch(version)...)
		requireError(t, admin.do(http.MethodGet, base, nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		requireError(t, admin.do(http.MethodGet, base+"/rules", nil), http.StatusNotFound, "AGENT_NOT_FOUND")
	})
}

// Every validation error of the policy API is a 400 INVALID_REQUEST naming
// the field; a field inside the part being written is named relative to
// that part, the way the client sent it. A refused write changes nothing.
func TestPolicyValidationErrors(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
	id, version := newBikeShop(t, admin)
	base := "/v1/agents/" + id
	rule := func(extra map[string]any) map[string]any {
		r := map[string]any{"id": "r2", "condition": "rent a bike", "action": "Explain bike rental."}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	scenario := func(steps ...map[string]any) map[string]any {
		return map[string]any{"id": "rental", "entry_condition": "rent a bike", "entry_step_id": "ask_days", "steps": steps}
	}
	yamlBundle := func(body string) string {
		return "agent:\n  name: Bike shop\n" + body
	}

	cases := []struct {
		name        string
		method      string
		path        string
		body        any
		contentType string
		field       string
		message     string // part of the detail's message
	}{
		{"scope id that does not exist", http.MethodPost, "/rules",
			rule(map[string]any{"scope": "scenario", "scope_id": "nope"}), "", "scope_id", "scenario"},
		{"step scope id that does not exist", http.MethodPost, "/rules",
			rule(map[string]any{"scope": "step", "scope_id": "repair/nope"}), "", "scope_id", "<scenario_id>/<step_id>"},
		{"entry step that does not exist", http.MethodPost, "/scenarios",
			scenario(map[string]any{"id": "ask_size"}), "", "entry_step_id", "steps"},
		{"transition to an unknown step", http.MethodPost, "/scenarios",
			scenario(map[string]any{"id": "ask_days", "transitions": []map[string]any{{"to": "pay", "condition": "days"}}}),
			"", "steps[0].transitions[0].to", "unknown step pay"},
		{"template placeholder that does not parse", http.MethodPost, "/templates",
			map[string]any{"id": "tpl_bad", "mode": "suggest", "text": "Hello {name"}, "", "text", "unclosed placeholder"},
		{"expression constraint that does not compile", http.MethodPost, "/rules",
			rule(map[string]any{"hard": true, "constraints": []map[string]any{{"kind": "expression", "value": "amount >"}}}),
			"", "constraints[0].value", "does not compile"},
		{"constraint on a rule that is not hard", http.MethodPost, "/rules",
			rule(map[string]any{"constraints": []map[string]any{{"kind": "forbid_phrase", "value": "free"}}}),
			"", "hard", "must be true"},
		{"duplicate rule id", http.MethodPost, "/rules", rule(map[string]any{"id": "opening_hours"}),
			"", "id", "already exists"},
		{"duplicate template id", http.MethodPost, "/templates",
			map[string]any{"id": "tpl_hours", "mode": "suggest", "text": "Hi"}, "", "id", "already exists"},
		{"duplicate step id", http.MethodPost, "/scenarios",
			scenario(map[string]any{"id": "ask_days"}, map[string]any{"id": "ask_days"}), "", "steps[1].id", "duplicate id"},
		{"part without id", http.MethodPost, "/tools", map[string]any{"url": "https://example.com/hook"}, "", "id", "required"},
		{"unknown JSON field", http.MethodPost, "/rules", rule(map[string]any{"colour": "red"}), "", "colour", "not a known field"},
		{"unknown JSON field in a step", http.MethodPost, "/scenarios",
			scenario(map[string]any{"id": "ask_days", "colour": "red"}), "", "colour", "not a known field"},
		{"wrong JSON type", http.MethodPost, "/rules", rule(map[string]any{"priority": "high"}), "", "priority", "must be an integer (string given)"},
		{"bad scope", http.MethodPost, "/rules", rule(map[string]any{"scope": "sometimes"}), "", "scope", "global, scenario, step"},
		{"bad template mode", http.MethodPost, "/templates",
			map[string]any{"id": "tpl_loud", "mode": "loud", "text": "HI"}, "", "mode", "exclusive, suggest, fallback"},
		{"bad constraint kind", http.MethodPost, "/rules",
			rule(map[string]any{"hard": true, "constraints": []map[string]any{{"kind": "maybe", "value": "x"}}}),
			"", "constraints[0]", "kind must be one of"},
		{"bad tool url", http.MethodPost, "/tools", map[string]any{"id": "crm", "url": "ftp://crm"}, "", "url", "http"},
		{"bad scenario on_start", http.MethodPost, "/scenarios", map[string]any{"id": "rental", "entry_condition": "rent a bike",
			"entry_step_id": "ask_days", "on_start": "reset", "steps": []map[string]any{{"id": "ask_days"}}}, "", "on_start", "must be one of keep, clear"},
		{"replace names fields inside the replaced part", http.MethodPut, "/rules/opening_hours",
			rule(map[string]any{"template_ids": []string{"tpl_nope"}}), "", "template_ids[0]", "unknown template tpl_nope"},
		{"replace of a scenario", http.MethodPut, "/scenarios/repair",
			scenario(map[string]any{"id": "ask_days", "transitions": []map[string]any{{"to": "pay", "condition": "days"}}}),
			"", "steps[0].transitions[0].to", "unknown step pay"},
		{"agent setting out of range", http.MethodPut, "",
			map[string]any{"name": "Bike shop", "settings": map[string]any{"top_k": 99}}, "", "settings.top_k", "0..50"},
		{"agent without name", http.MethodPut, "", map[string]any{"description": "no name"}, "", "name", "characters"},
		{"unknown agent field", http.MethodPut, "", map[string]any{"name": "x", "persona": "pirate"}, "", "persona", "not a known field"},
		{"bundle of another agent", http.MethodPut, "/bundle",
			map[string]any{"agent": map[string]any{"id": uuid.NewString(), "name": "x"}}, "", "agent.id", "agent id of the path"},
		{"bundle keeps its paths", http.MethodPut, "/bundle",
			yamlBundle("rules:\n  - id: r1\n    condition: hi\n    action: Greet.\n    scope: scenario\n    scope_id: nope\n"),
			"application/yaml", "rules[0].scope_id", "scenario"},
		{"bundle with an unknown nested field", http.MethodPut, "/bundle",
			yamlBundle("rules:\n  - id: r1\n    condition: hi\n    action: Greet.\n    colour: red\n"),
			"application/x-yaml", "rules[0].colour", "not a known bundle field"},
		{"transition when that does not compile", http.MethodPut, "/bundle",
			yamlBundle("variables:\n  - {name: days, type: number}\nscenarios:\n  - id: rental\n    entry_condition: rent a bike\n    entry_step_id: ask_days\n" +
				"    steps:\n      - id: ask_days\n        collects: [days]\n        transitions: [{to: pay, when: 'vars.days >'}]\n      - id: pay\n"),
			"application/yaml", "scenarios[0].steps[0].transitions[0].when", "unexpected token"},
		{"transition when on a variable nothing sets", http.MethodPut, "/bundle",
			yamlBundle("scenarios:\n  - id: rental\n    entry_condition: rent a bike\n    entry_step_id: ask_days\n" +
				"    steps:\n      - id: ask_days\n        transitions: [{to: pay, when: 'vars.days > 2'}]\n      - id: pay\n"),
			"application/yaml", "scenarios[0].steps[0].transitions[0].when", "vars.days is nothing that can have a value"},
		{"bundle scenario with a bad on_start", http.MethodPut, "/bundle",
			yamlBundle("scenarios:\n  - id: rental\n    entry_condition: rent a bike\n    entry_step_id: ask_days\n    on_start: forget\n" +
				"    steps:\n      - id: ask_days\n"),
			"application/yaml", "scenarios[0].on_start", "must be one of keep, clear"},
		{"bundle with an unknown agent field", http.MethodPut, "/bundle",
			`{"agent": {"name": "x", "persona": "pirate"}}`, "", "agent.persona", "not a known bundle field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.contentType != "" {
				headers = []string{"Content-Type", tc.contentType}
			}
			body := requireError(t, admin.do(tc.method, base+tc.path, tc.body, headers...), http.StatusBadRequest, "INVALID_REQUEST")
			var fields []string
			for _, d := range body.Error.Details {
				fields = append(fields, d.Field)
				if d.Field == tc.field {
					assert.Contains(t, d.Message, tc.message)
				}
			}
			assert.Contains(t, fields, tc.field, "details: %+v", body.Error.Details)
		})
	}

	t.Run("other fields keep their path", func(t *testing.T) {
		// Renaming a step that a rule is scoped to breaks the rule, not the
		// scenario being written.
		sc := map[string]any{}
		for k, v := range repairScenario {
			sc[k] = v
		}
		sc["steps"] = []map[string]any{{"id": "ask_bike", "terminal": true}}
		admin.must(http.StatusCreated, http.MethodPost, base+"/rules", rule(map[string]any{
			"id": "booked_only", "scope": "step", "scope_id": "repair/booked"}))
		version++
		body := requireError(t, admin.do(http.MethodPut, base+"/scenarios/repair", sc), http.StatusBadRequest, "INVALID_REQUEST")
		require.Len(t, body.Error.Details, 1, "%+v", body.Error.Details)
		assert.Equal(t, "rules[1].scope_id", body.Error.Details[0].Field)
	})

	t.Run("bad requests", func(t *testing.T) {
		requireError(t, admin.do(http.MethodPost, base+"/rules", `{"id":`), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodPut, base+"/bundle", `{"agent": {"name": "x"}`), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodPut, base+"/bundle", "", "Content-Type", "application/yaml"),
			http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodPut, base+"/bundle", "agent: {}", "Content-Type", "text/plain"),
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		requireError(t, admin.do(http.MethodPost, base+"/rules", "id: x", "Content-Type", "application/yaml"),
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		body := requireError(t, admin.do(http.MethodPut, base+"/rules/opening_hours", hoursRule, "If-Match", "W/\"3\""),
			http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "If-Match", body.Error.Details[0].Field)
		// Versions count from 1: no agent is ever at version 0.
		body = requireError(t, admin.do(http.MethodPut, base+"/rules/opening_hours", hoursRule, "If-Match", `"0"`),
			http.StatusBadRequest, "INVALID_REQUEST")
		require.NotEmpty(t, body.Error.Details)
		assert.Equal(t, "If-Match", body.Error.Details[0].Field)
		// Invalid UTF-8 is refused, not read as U+FFFD.
		requireError(t, admin.do(http.MethodPost, base+"/rules", "{\"id\": \"r9\", \"condition\": \"rent a bike\xff\", \"action\": \"Explain.\"}"),
			http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodGet, base+"/rules?cursor=@@@", nil), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodGet, base+"/rules?limit=0", nil), http.StatusBadRequest, "INVALID_REQUEST")
		requireError(t, admin.do(http.MethodGet, base+"/rules/nope", nil), http.StatusNotFound, "NOT_FOUND")
		requireError(t, admin.do(http.MethodPut, base+"/rules/nope", hoursRule), http.StatusNotFound, "NOT_FOUND")
		requireError(t, admin.do(http.MethodDelete, base+"/tools/nope", nil), http.StatusNotFound, "NOT_FOUND")
		body = requireError(t, admin.do(http.MethodPost, "/v1/agents", map[string]any{"id": id, "name": "again"}),
			http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "id", body.Error.Details[0].Field)
		assert.Contains(t, body.Error.Details[0].Message, "already exists")
		body = requireError(t, admin.do(http.MethodPost, "/v1/agents", map[string]any{"id": "bike-shop", "name": "x"}),
			http.StatusBadRequest, "INVALID_REQUEST")
		assert.Equal(t, "id", body.Error.Details[0].Field)
		requireError(t, admin.do(http.MethodPost, "/v1/agents", map[string]any{"name": "x", "tenant_id": uuid.NewString()}),
			http.StatusForbidden, "TENANT_MISMATCH")
	})

	res := admin.do(http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, version, etag(t, res), "refused writes made no version")
}

// If-Match guards writes: a stale version is a 409 naming the current one,
// and of concurrent writers of one version exactly one wins.
func TestPolicyOptimisticConcurrency(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
	id, version := newBikeShop(t, admin)
	base := "/v1/agents/" + id

	for _, w := range []struct{ method, path string }{
		{http.MethodPut, "/rules/opening_hours"}, {http.MethodPost, "/tools"}, {http.MethodDelete, "/templates/tpl_fallback"},
		{http.MethodPut, ""}, {http.MethodPut, "/bundle"}, {http.MethodDelete, ""},
	} {
		var body any
		switch {
		case w.path == "/tools":
			body = map[string]any{"id": "crm", "url": "https://crm.example.com/hook"}
		case w.method == http.MethodPut && w.path == "":
			body = map[string]any{"name": "renamed"}
		case w.path == "/bundle":
			body = map[string]any{"agent": map[string]any{"name": "renamed"}}
		case w.method == http.MethodPut:
			body = hoursRule
		}
		res := admin.do(w.method, base+w.path, body, ifMatch(version-1)...)
		e := requireError(t, res, http.StatusConflict, "VERSION_CONFLICT")
		assert.Contains(t, e.Error.Message, fmt.Sprintf("version %d", version), "%s %s", w.method, w.path)
	}

	const writers = 8
	statuses := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			r := map[string]any{}
			for k, v := range hoursRule {
				r[k] = v
			}
			r["action"] = fmt.Sprintf("Writer %d gives the opening hours.", i)
			statuses[i] = admin.do(http.MethodPut, base+"/rules/opening_hours", r, ifMatch(version)...).Status
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: writers - 1}, count)

	// Unconditional writers all win, each with its own version.
	for i := range writers {
		wg.Go(func() {
			tpl := map[string]any{"id": fmt.Sprintf("tpl_extra_%d", i), "mode": "suggest", "text": "Extra"}
			assert.Equal(t, http.StatusCreated, admin.do(http.MethodPost, base+"/templates", tpl).Status)
		})
	}
	wg.Wait()
	res := admin.do(http.MethodGet, base, nil)
	assert.Equal(t, version+1+writers, etag(t, res))
}

// Writes need the admin role; another tenant's agent does not exist for
// reads or writes.
func TestPolicyAccess(t *testing.T) {
	app := harness.Start(t, nil)
	tenant := uuid.NewString()
	admin := policyAPI{t, app, harness.Token(t, tenant, "admin")}
	id, _ := newBikeShop(t, admin)
	base := "/v1/agents/" + id
	writes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/agents", map[string]any{"name": "x"}},
		{http.MethodPut, base, map[string]any{"name": "x"}},
		{http.MethodDelete, base, nil},
		{http.MethodPut, base + "/bundle", map[string]any{"agent": map[string]any{"name": "x"}}},
		{http.MethodPost, base + "/rules", hoursRule},
		{http.MethodPut, base + "/rules/opening_hours", hoursRule},
		{http.MethodDelete, base + "/rules/opening_hours", nil},
		{http.MethodPost, base + "/scenarios", repairScenario},
		{http.MethodPut, base + "/scenarios/repair", repairScenario},
		{http.MethodDelete, base + "/scenarios/repair", nil},
		{http.MethodPost, base + "/templates", bikeTemplates[0]},
		{http.MethodPut, base + "/templates/tpl_hours", bikeTemplates[0]},
		{http.MethodDelete, base + "/templates/tpl_fallback", nil},
		{http.MethodPost, base + "/tools", map[string]any{"id": "crm", "url": "https://crm.example.com"}},
		{http.MethodPut, base + "/tools/crm", map[string]any{"url": "https://crm.example.com"}},
		{http.MethodDelete, base + "/tools/crm", nil},
	}
	reads := []string{"/v1/agents/" + id, base + "/bundle", base + "/rules", base + "/rules/opening_hours",
		base + "/scenarios", base + "/scenarios/repair", base + "/templates", base + "/templates/tpl_hours",
		base + "/tools", base + "/tools/crm"}

	t.Run("writes without the admin role", func(t *testing.T) {
		for _, role := range [][]string{nil, {"viewer"}} {
			api := policyAPI{t, app, harness.Token(t, tenant, role...)}
			for _, w := range writes {
				requireError(t, api.do(w.method, w.path, w.body), http.StatusForbidden, "FORBIDDEN")
			}
		}
	})
	t.Run("reads by any caller of the tenant", func(t *testing.T) {
		api := policyAPI{t, app, harness.Token(t, tenant)}
		for _, path := range reads {
			res := api.do(http.MethodGet, path, nil)
			if strings.HasSuffix(path, "/crm") {
				requireError(t, res, http.StatusNotFound, "NOT_FOUND")
				continue
			}
			require.Equal(t, http.StatusOK, res.Status, "%s: %s", path, res.Body)
			assert.NotEmpty(t, res.Header.Get("ETag"), path)
		}
	})
	t.Run("another tenant's agent", func(t *testing.T) {
		other := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
		for _, path := range reads {
			requireError(t, other.do(http.MethodGet, path, nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		}
		for _, w := range writes[1:] {
			if strings.HasSuffix(w.path, "/bundle") {
				continue // a bundle PUT creates a missing agent: below
			}
			requireError(t, other.do(w.method, w.path, w.body), http.StatusNotFound, "AGENT_NOT_FOUND")
		}
		// As if the id were free: the other tenant's import creates its own
		// agent and leaves the owner's alone.
		other.must(http.StatusCreated, http.MethodPut, base+"/bundle", map[string]any{"agent": map[string]any{"name": "theirs"}})
		mine := admin.must(http.StatusOK, http.MethodGet, base, nil)
		assert.Equal(t, "Bike shop assistant", mine["name"])
		var list struct {
			Items []map[string]any `json:"items"`
		}
		res := other.do(http.MethodGet, "/v1/agents", nil)
		res.JSON(t, &list)
		require.Len(t, list.Items, 1)
		assert.Equal(t, "theirs", list.Items[0]["name"])
		// The demo agent, too, is invisible outside its tenant.
		requireError(t, other.do(http.MethodGet, "/v1/agents/"+harness.DemoAgent, nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		// Nothing changed for the owner.
		admin.must(http.StatusOK, http.MethodGet, base+"/rules/opening_hours", nil)
	})
	t.Run("agent ids that are not UUIDs", func(t *testing.T) {
		for _, path := range []string{"/v1/agents/bike-shop", "/v1/agents/bike-shop/rules", "/v1/agents/bike-shop/bundle"} {
			requireError(t, admin.do(http.MethodGet, path, nil), http.StatusNotFound, "AGENT_NOT_FOUND")
		}
		requireError(t, admin.do(http.MethodPut, "/v1/agents/bike-shop/bundle", map[string]any{"agent": map[string]any{"name": "x"}}),
			http.StatusNotFound, "AGENT_NOT_FOUND")
	})
}

// A bundle PUT on a new id creates the agent, in the caller's tenant
// whatever the bundle says.
func TestPolicyBundleCreatesAgent(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
	id := uuid.NewString()
	bundle := "agent:\n  name: Fresh\nrules:\n  - id: hello\n    condition: hello\n    action: Greet.\n    template_ids: [hi]\n" +
		"templates:\n  - id: hi\n    mode: exclusive\n    text: Hello from {channel}!\n"
	res := admin.do(http.MethodPut, "/v1/agents/"+id+"/bundle", bundle, "Content-Type", "text/yaml", "Accept", "application/yaml")
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	assert.Equal(t, "/v1/agents/"+id, res.Header.Get("Location"))
	assert.EqualValues(t, 1, etag(t, res))
	assert.Contains(t, res.Header.Get("Content-Type"), "application/yaml")
	var exported map[string]any
	require.NoError(t, yaml.Unmarshal(res.Body, &exported))
	assert.Len(t, exported["rules"], 1)
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: admin.token,
		Body: map[string]any{"agent_id": id, "channel": "sms", "user_channel_id": "u", "message": "hello"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), "Hello from sms!")

	// A bundle's tenant_id only names the owner of start-up imports: the
	// demo bundle imports into any tenant as that tenant's own agent.
	demo, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	res = admin.do(http.MethodPut, "/v1/agents/"+harness.DemoAgent+"/bundle", demo, "Content-Type", "application/yaml")
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	owner := policyAPI{t, app, harness.Token(t, harness.DemoTenant, "admin")}
	res = owner.do(http.MethodPut, "/v1/agents/"+harness.DemoAgent+"/bundle", demo, "Content-Type", "application/yaml")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.EqualValues(t, 2, etag(t, res), "the demo agent was imported at start-up as version 1")
	mine := admin.must(http.StatusOK, http.MethodGet, "/v1/agents/"+harness.DemoAgent, nil)
	assert.EqualValues(t, 1, mine["version"], "two tenants, two agents")
}

// FOCAL_BOOTSTRAP_TENANT beats the bundle's agent.tenant_id: an operator
// importing the demo bundle for their own tenant gets the agent there, and
// the tenant the file names has none.
func TestBootstrapTenantOverridesTheBundles(t *testing.T) {
	tenant := uuid.NewString()
	app := harness.Start(t, map[string]string{"FOCAL_BOOTSTRAP_TENANT": tenant})
	res, body := chat(t, app, harness.Token(t, tenant), harness.ChatBody("u-1", "Hi there!"))
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, body["response"], "Acme Outfitters assistant")
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: harness.Token(t, harness.DemoTenant),
		Body: harness.ChatBody("u-1", "Hi there!")})
	requireError(t, res, http.StatusNotFound, "AGENT_NOT_FOUND")
}

// The policy cache of one instance: a policy written to the store behind
// its back, as another instance sharing the store writes it, is served once
// FOCAL_POLICY_REFRESH has passed, and not before; in between, turns read
// no policy from the store. The clock is the test's, so nothing waits. Two
// instances on one MongoDB are in test/e2e (policy_test.go).
func TestPolicyCacheServesAWriteFromElsewhereAfterTheRefresh(t *testing.T) {
	clock := harness.NewClock()
	var store ports.PolicyStore
	app := harness.Start(t, map[string]string{"FOCAL_POLICY_REFRESH": "1s"}, harness.WithClock(clock), fx.Populate(&store))
	tenant := uuid.NewString()
	id, _ := newBikeShop(t, policyAPI{t, app, harness.TokenAt(t, clock.Now(), tenant, "admin")})
	reader := harness.TokenAt(t, clock.Now(), tenant)
	ask := func() string {
		return chatWith(t, app, reader, id, "rider-cache", "When are you open?")["response"].(string)
	}
	const old, summer = "We are open from 8am to 6pm every day.", "In summer we are open from 7am to 9pm every day."
	require.Equal(t, old, ask())

	// Another instance changes the rule in the shared store.
	p, err := store.GetPolicy(t.Context(), tenant, id)
	require.NoError(t, err)
	p.Rules[0].TemplateIDs = []string{"tpl_hours_summer"}
	p.Agent.Version++
	require.NoError(t, store.SavePolicy(t.Context(), tenant, p))

	before := storeCalls(t, app, "policy.get", "policy.version")
	clock.Advance(time.Second - time.Millisecond)
	assert.Equal(t, old, ask(), "within the refresh the cached policy serves")
	assert.Equal(t, before, storeCalls(t, app, "policy.get", "policy.version"), "a turn on a fresh cached policy reads no policy from the store")

	clock.Advance(time.Millisecond)
	assert.Equal(t, summer, ask(), "the first turn after the refresh serves the new version")
	assert.Equal(t, summer, ask())
	assert.EqualValues(t, 2, storeCalls(t, app, "policy.get", "policy.version")-before, "one version check and one load, then memory again")
}

// A bundle larger than a chat request's body limit imports: whole policies
// have their own limit.
func TestLargeBundleImports(t *testing.T) {
	app := harness.Start(t, nil)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	rules := make([]map[string]any, 6000)
	for i := range rules {
		rules[i] = map[string]any{"id": fmt.Sprintf("r%05d", i), "condition": fmt.Sprintf("topic%d alpha beta gamma delta; variant%d epsilon", i, i),
			"action": strings.Repeat("Explain the policy clearly. ", 4)}
	}
	bundle := map[string]any{"agent": map[string]any{"id": "12345678-1234-4234-8234-123456789abc", "name": "big"}, "rules": rules}
	raw, err := json.Marshal(bundle)
	require.NoError(t, err)
	require.Greater(t, len(raw), 1<<20, "the bundle is over the chat body limit")
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/12345678-1234-4234-8234-123456789abc/bundle", Token: admin, Body: raw})
	require.Equal(t, http.StatusCreated, res.Status, "%.300s", res.Body)
}

// Writes answer with lint warnings: what in the stored policy will likely
// not work as meant. They never refuse the write.
func TestPolicyWritesAnswerWithLintWarnings(t *testing.T) {
	app := harness.Start(t, nil)
	admin := policyAPI{t, app, harness.Token(t, uuid.NewString(), "admin")}
	id, version := newBikeShop(t, admin)
	base := "/v1/agents/" + id
	type warning struct{ Code, Field, Message string }
	var answer struct {
		ID       string    `json:"id"`
		Warnings []warning `json:"warnings"`
	}

	res := admin.do(http.MethodPost, base+"/rules", map[string]any{"id": "brakes", "condition": "brakes; brake", "action": "Check the brakes."},
		ifMatch(version)...)
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	version++
	res.JSON(t, &answer)
	assert.Equal(t, "brakes", answer.ID)
	require.Len(t, answer.Warnings, 1, "%+v", answer.Warnings)
	assert.Equal(t, warning{Code: "one_word_condition", Field: "condition", Message: answer.Warnings[0].Message}, answer.Warnings[0],
		"the field is the rule's own")
	admin.must(http.StatusOK, http.MethodGet, base+"/rules/brakes", nil)

	res = admin.do(http.MethodPut, base+"/rules/brakes", map[string]any{"condition": "brake repair", "action": "Check the brakes.",
		"examples": []string{"my brakes squeak", "the brakes don't stop the bike", "can you adjust my brakes"}}, ifMatch(version)...)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	version++
	answer.Warnings = nil
	res.JSON(t, &answer)
	assert.Equal(t, []warning{}, answer.Warnings, "a good rule: warnings are there, and empty")

	bundle := admin.must(http.StatusOK, http.MethodGet, base+"/bundle", nil)
	rules := bundle["rules"].([]any)
	rules = append(rules, map[string]any{"id": "times", "condition": "opening times", "action": "Give the times.",
		"examples": []any{"When are you open?", "are you open on sundays", "what time do you close"}})
	bundle["rules"] = rules
	bundle["agent"].(map[string]any)["settings"].(map[string]any)["semantic_weight"] = 0.4
	res = admin.do(http.MethodPut, base+"/bundle", bundle, ifMatch(version)...)
	require.Equal(t, http.StatusOK, res.Status, "the warnings do not refuse the import: %s", res.Body)
	var imported struct {
		Rules    []map[string]any `json:"rules"`
		Warnings []warning        `json:"warnings"`
	}
	res.JSON(t, &imported)
	assert.Len(t, imported.Rules, 3)
	codes := map[string]string{}
	for _, w := range imported.Warnings {
		codes[w.Field] = w.Code
	}
	assert.Equal(t, "deprecated_setting", codes["agent.settings.semantic_weight"])
	assert.Equal(t, "example_collision", codes["rules[2].examples[0]"], "%+v", imported.Warnings)

	res = admin.do(http.MethodPut, base+"/bundle", bundle, "Accept", "application/yaml")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), "warnings:\n")
	assert.Contains(t, string(res.Body), "code: example_collision")
}

// Examples and negative examples are policy like any other field: written
// through the part routes and the bundle, exported as written (JSON and
// YAML), and what the matcher learns from: a message that shares no word
// with a rule's condition text matches on its examples, and the turn record
// names the example that explains the score.
func TestExamplesAreWrittenExportedAndLearnt(t *testing.T) {
	app := harness.Start(t, nil)
	tenant := uuid.NewString()
	admin := policyAPI{t, app, harness.Token(t, tenant, "admin")}
	id, version := newBikeShop(t, admin)
	base := "/v1/agents/" + id

	flat := map[string]any{"id": "flat_tyre", "condition": "puncture repair", "action": "Explain the tyre repair.",
		"examples":          []any{"my tyre went flat", "the inner tube has a hole", "my wheel keeps losing air", "I rode over glass and the tyre is soft"},
		"negative_examples": []any{"do you sell tyres for cars"}}
	admin.must(http.StatusCreated, http.MethodPost, base+"/rules", flat, ifMatch(version)...)
	version++
	got := admin.must(http.StatusOK, http.MethodGet, base+"/rules/flat_tyre", nil)
	assert.Equal(t, flat["examples"], got["examples"])
	assert.Equal(t, flat["negative_examples"], got["negative_examples"])

	bundle := admin.must(http.StatusOK, http.MethodGet, base+"/bundle", nil)
	repair := bundle["scenarios"].([]any)[0].(map[string]any)
	repair["entry_examples"] = []any{"my gears slip when I pedal", "the chain keeps coming off"}
	repair["entry_negative_examples"] = []any{"how much is a new bike"}
	repair["exit_examples"] = []any{"forget the booking", "I'll fix it myself"}
	tr := repair["steps"].([]any)[0].(map[string]any)["transitions"].([]any)[0].(map[string]any)
	tr["examples"] = []any{"it's a racer", "an MTB"}
	tr["negative_examples"] = []any{"I don't know what kind it is"}
	res := admin.do(http.MethodPut, base+"/bundle", bundle, ifMatch(version)...)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

	for _, accept := range []string{"application/json", "application/yaml"} {
		res := admin.do(http.MethodGet, base+"/bundle", nil, "Accept", accept)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var out map[string]any
		require.NoError(t, yaml.Unmarshal(res.Body, &out), accept)
		rules := out["rules"].([]any)
		assert.Equal(t, flat["examples"], rules[len(rules)-1].(map[string]any)["examples"], accept)
		sc := out["scenarios"].([]any)[0].(map[string]any)
		for _, k := range []string{"entry_examples", "entry_negative_examples", "exit_examples"} {
			assert.Equal(t, repair[k], sc[k], "%s %s", accept, k)
		}
		outTr := sc["steps"].([]any)[0].(map[string]any)["transitions"].([]any)[0].(map[string]any)
		assert.Equal(t, tr["examples"], outTr["examples"], accept)
		assert.Equal(t, tr["negative_examples"], outTr["negative_examples"], accept)
	}

	reply := chatWith(t, app, harness.Token(t, tenant), id, "rider-flat", "my tyre went flat overnight")
	assert.Equal(t, []any{"flat_tyre"}, reply["matched_rules"])
	var turns struct {
		Items []struct {
			Explanation struct {
				Candidates []struct {
					RuleID  string  `json:"rule_id"`
					Score   float64 `json:"score"`
					Example string  `json:"nearest_example"`
				} `json:"candidates"`
			} `json:"explanation"`
		} `json:"items"`
	}
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + reply["session_id"].(string) + "/turns",
		Token: harness.Token(t, tenant)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &turns)
	require.Len(t, turns.Items, 1, "%s", res.Body)
	c := turns.Items[0].Explanation.Candidates
	require.NotEmpty(t, c)
	assert.Equal(t, "flat_tyre", c[0].RuleID)
	assert.Equal(t, "my tyre went flat", c[0].Example, "the example that explains the score")
	assert.GreaterOrEqual(t, c[0].Score, 0.6)
}
