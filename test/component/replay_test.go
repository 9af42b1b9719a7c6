package component

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// demoMessages is the demo conversation; the third message is the one the
// store_hours rule answers.
var demoMessages = []string{
	"Hi there! I want to return my jacket",
	"My order number is AC-123456",
	"What time do you open on Sunday?",
	"It was the wrong size",
	"When will I get my refund?",
}

// turnView is what a replay compares of a turn.
type turnView struct {
	MatchedRules []string          `json:"matched_rules"`
	Scenario     map[string]string `json:"scenario"`
	Template     string            `json:"template"`
	Enforcement  string            `json:"enforcement"`
	Reply        string            `json:"reply"`
}

type replayReport struct {
	Candidate struct {
		Source  string `json:"source"`
		Version *int64 `json:"version"`
	} `json:"candidate"`
	Sessions []struct {
		SessionID string `json:"session_id"`
		Turns     []struct {
			TurnID            string   `json:"turn_id"`
			TurnNumber        int      `json:"turn_number"`
			Expect            []string `json:"expect"`
			Before            turnView `json:"before"`
			After             turnView `json:"after"`
			Changed           []string `json:"changed"`
			ExpectationBroken bool     `json:"expectation_broken"`
		} `json:"turns"`
	} `json:"sessions"`
	Summary struct {
		Sessions           int            `json:"sessions"`
		Turns              int            `json:"turns"`
		TurnsChanged       int            `json:"turns_changed"`
		ByKind             map[string]int `json:"by_kind"`
		Expected           int            `json:"expected"`
		ExpectationsBroken int            `json:"expectations_broken"`
	} `json:"summary"`
}

// converse runs the demo conversation as user, marking turns with the
// given expectations (by index), and returns the session id.
func converse(t *testing.T, app *harness.App, token, user string, expect map[int]any) string {
	t.Helper()
	var sessionID string
	for i, msg := range demoMessages {
		body := harness.ChatBody(user, msg)
		if e, ok := expect[i]; ok {
			body["metadata"] = map[string]any{"expect": e}
		}
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: body})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var r struct {
			SessionID string `json:"session_id"`
		}
		res.JSON(t, &r)
		sessionID = r.SessionID
	}
	return sessionID
}

// liveViews reads a session's turn records as a replay views them.
func liveViews(t *testing.T, app *harness.App, token, sessionID string) []turnView {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID + "/turns?order=asc&limit=100", Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var page struct {
		Items []struct {
			Response    string `json:"response"`
			Explanation struct {
				Matched []struct {
					RuleID string `json:"rule_id"`
				} `json:"matched"`
				Scenario struct {
					After map[string]string `json:"after"`
				} `json:"scenario"`
				Generation struct {
					TemplateID string `json:"template_id"`
				} `json:"generation"`
			} `json:"explanation"`
		} `json:"items"`
	}
	res.JSON(t, &page)
	out := make([]turnView, len(page.Items))
	for i, it := range page.Items {
		v := turnView{MatchedRules: []string{}, Scenario: it.Explanation.Scenario.After,
			Template: it.Explanation.Generation.TemplateID, Reply: it.Response}
		for _, m := range it.Explanation.Matched {
			v.MatchedRules = append(v.MatchedRules, m.RuleID)
		}
		out[i] = v
	}
	return out
}

// snapshot is every live record of a session, as the API shows them.
func snapshot(t *testing.T, app *harness.App, token, sessionID string) []string {
	t.Helper()
	get := func(path string) string {
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: path, Token: token})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		return string(res.Body)
	}
	out := []string{get("/v1/sessions/" + sessionID), get("/v1/sessions/" + sessionID + "/turns?order=asc&limit=100")}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(out[1]), &page))
	for _, it := range page.Items {
		out = append(out, get("/v1/turns/"+it.ID))
	}
	return out
}

// The demo conversation replayed against a version whose store_hours rule
// is disabled changes exactly the third turn (its rule, template and
// reply), and the new replies are the ones a live conversation on that
// version gets. Replayed against its own version nothing changes; an
// inline bundle with the same edit changes the same; the expectation on
// the third turn breaks; and no live record changes.
func TestReplayDemoConversationAgainstAChangedRule(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	admin := policyAPI{t: t, app: app, token: harness.Token(t, harness.DemoTenant, "admin")}
	agentPath := "/v1/agents/" + harness.DemoAgent

	recorded := converse(t, app, token, "replayed-customer", map[int]any{0: []string{"scenario"}, 2: true})
	before := snapshot(t, app, token, recorded)
	original := liveViews(t, app, token, recorded)
	v1 := etag(t, admin.do(http.MethodGet, agentPath, nil))

	rule := admin.must(http.StatusOK, http.MethodGet, agentPath+"/rules/store_hours", nil)
	rule["enabled"] = false
	res := admin.do(http.MethodPut, agentPath+"/rules/store_hours", rule)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	v2 := etag(t, res)
	require.Equal(t, v1+1, v2)

	// The oracle: the same conversation, live, on the changed version.
	changedLive := liveViews(t, app, token, converse(t, app, token, "oracle-customer", nil))

	replay := func(body map[string]any) replayReport {
		t.Helper()
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: agentPath + "/replay", Token: admin.token, Body: body})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var r replayReport
		res.JSON(t, &r)
		return r
	}
	check := func(r replayReport) {
		t.Helper()
		require.Len(t, r.Sessions, 1)
		turns := r.Sessions[0].Turns
		require.Len(t, turns, len(demoMessages))
		for i, turn := range turns {
			assert.Equal(t, i+1, turn.TurnNumber)
			assert.Equal(t, original[i], withoutEnforcement(turn.Before), "turn %d before is the recorded turn", i+1)
			assert.Equal(t, changedLive[i], withoutEnforcement(turn.After), "turn %d after is what the changed version does live", i+1)
			if i == 2 {
				assert.Equal(t, []string{"rules", "template", "reply"}, turn.Changed, "turn 3")
				assert.Equal(t, []string{"store_hours"}, turn.Before.MatchedRules)
				assert.Empty(t, turn.After.MatchedRules)
				assert.Equal(t, turn.Before.Scenario, turn.After.Scenario, "the step stays put either way")
				assert.Equal(t, []string{"rules", "scenario", "template", "enforcement", "reply"}, turn.Expect)
				assert.True(t, turn.ExpectationBroken)
				continue
			}
			assert.Empty(t, turn.Changed, "turn %d", i+1)
			assert.False(t, turn.ExpectationBroken, "turn %d", i+1)
		}
		assert.Equal(t, []string{"scenario"}, turns[0].Expect)
		assert.Equal(t, 5, r.Summary.Turns)
		assert.Equal(t, 1, r.Summary.TurnsChanged)
		assert.Equal(t, map[string]int{"rules": 1, "template": 1, "reply": 1}, r.Summary.ByKind)
		assert.Equal(t, 2, r.Summary.Expected)
		assert.Equal(t, 1, r.Summary.ExpectationsBroken)
	}

	byVersion := replay(map[string]any{"version": v2, "sessions": map[string]any{"ids": []string{recorded}}})
	assert.Equal(t, "version", byVersion.Candidate.Source)
	require.NotNil(t, byVersion.Candidate.Version)
	assert.Equal(t, v2, *byVersion.Candidate.Version)
	check(byVersion)

	// The same edit as an inline bundle, as YAML text: the same changes.
	bundle := admin.must(http.StatusOK, http.MethodGet, agentPath+"/versions/"+fmt.Sprint(v1), nil)
	for _, r := range bundle["rules"].([]any) {
		if r := r.(map[string]any); r["id"] == "store_hours" {
			r["enabled"] = false
		}
	}
	byBundle := replay(map[string]any{"bundle": bundle, "sessions": map[string]any{"ids": []string{recorded}}})
	assert.Equal(t, "bundle", byBundle.Candidate.Source)
	assert.Nil(t, byBundle.Candidate.Version)
	check(byBundle)

	// Against the version it was recorded with, nothing changes.
	same := replay(map[string]any{"version": v1, "sessions": map[string]any{"ids": []string{recorded}}})
	assert.Zero(t, same.Summary.TurnsChanged)
	assert.Zero(t, same.Summary.ExpectationsBroken)
	assert.Empty(t, same.Summary.ByKind)

	// The newest sessions of the agent: the oracle's, then the recorded one.
	last := replay(map[string]any{"version": v1, "sessions": map[string]any{"last": 2}})
	require.Len(t, last.Sessions, 2)
	assert.Equal(t, recorded, last.Sessions[1].SessionID)

	assert.Equal(t, before, snapshot(t, app, token, recorded), "no live record changed")

	// Both versions stay readable, newest first.
	versions := admin.must(http.StatusOK, http.MethodGet, agentPath+"/versions", nil)
	items := versions["items"].([]any)
	require.GreaterOrEqual(t, len(items), 2)
	assert.EqualValues(t, v2, items[0].(map[string]any)["version"])
	assert.EqualValues(t, v1, items[1].(map[string]any)["version"])
}

// withoutEnforcement drops the field the live records do not show in the
// same form (the oracle's views read the records directly).
func withoutEnforcement(v turnView) turnView {
	v.Enforcement = ""
	return v
}

// Bad replays are refused with the right code and status.
func TestReplayRefusals(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	session := converse(t, app, token, "refusals", nil)
	path := "/v1/agents/" + harness.DemoAgent + "/replay"
	cases := []struct {
		name   string
		token  string
		path   string
		body   any
		status int
		code   string
	}{
		{"not an admin", token, path, map[string]any{"version": 1, "sessions": map[string]any{"last": 1}}, http.StatusForbidden, "FORBIDDEN"},
		{"no candidate", admin, path, map[string]any{"sessions": map[string]any{"last": 1}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"both candidates", admin, path, map[string]any{"version": 1, "bundle": map[string]any{}, "sessions": map[string]any{"last": 1}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"no sessions", admin, path, map[string]any{"version": 1, "sessions": map[string]any{}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"too many sessions", admin, path, map[string]any{"version": 1, "sessions": map[string]any{"last": 101}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"101 session ids", admin, path, map[string]any{"version": 1, "sessions": map[string]any{"ids": repeated(session, 101)}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"unknown model", admin, path, map[string]any{"version": 1, "sessions": map[string]any{"last": 1}, "model": "gpt"}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"an invalid bundle", admin, path, map[string]any{"bundle": "rules: [{id: x, scope: nowhere}]", "sessions": map[string]any{"last": 1}}, http.StatusBadRequest, "INVALID_REQUEST"},
		{"unknown version", admin, path, map[string]any{"version": 99, "sessions": map[string]any{"last": 1}}, http.StatusNotFound, "NOT_FOUND"},
		{"unknown agent", admin, "/v1/agents/9d3f6c1e-0000-4000-8000-000000000000/replay", map[string]any{"version": 1, "sessions": map[string]any{"last": 1}}, http.StatusNotFound, "AGENT_NOT_FOUND"},
		{"a session of another tenant", harness.Token(t, "7a0d5f2e-1111-4111-8111-111111111111", "admin"), path,
			map[string]any{"version": 1, "sessions": map[string]any{"ids": []string{session}}}, http.StatusNotFound, "AGENT_NOT_FOUND"},
		{"an unknown session", admin, path, map[string]any{"version": 1, "sessions": map[string]any{"ids": []string{"9d3f6c1e-0000-4000-8000-000000000000"}}}, http.StatusNotFound, "SESSION_NOT_FOUND"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := app.Do(t, harness.Request{Method: http.MethodPost, Path: c.path, Token: c.token, Body: c.body})
			require.Equal(t, c.status, res.Status, "%s", res.Body)
			var body struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			res.JSON(t, &body)
			assert.Equal(t, c.code, body.Error.Code)
		})
	}
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents/" + harness.DemoAgent + "/versions/99", Token: token})
	assert.Equal(t, http.StatusNotFound, res.Status, "%s", res.Body)
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents/" + harness.DemoAgent + "/versions/latest", Token: token})
	assert.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
}

// repeated is n copies of s.
func repeated(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A replay may carry a whole bundle inline, so it gets the bundle body
// cap (FOCAL_HTTP_MAX_BUNDLE_BYTES), not the chat one: a body of 1.5 MiB
// is replayed, not refused with 413.
func TestReplayTakesABundleOverTheChatBodyLimit(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	recorded := converse(t, app, token, "big-bundle-customer", nil)
	demo, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	var filler strings.Builder
	for filler.Len() < 3<<19 {
		filler.WriteString("# a long note about the policy, kept with the bundle\n")
	}
	raw, err := json.Marshal(map[string]any{"bundle": string(demo) + "\n" + filler.String(),
		"sessions": map[string]any{"ids": []string{recorded}}})
	require.NoError(t, err)
	require.Greater(t, int64(len(raw)), app.Config.HTTP.MaxBodyBytes, "the body is over the chat body limit")

	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/agents/" + harness.DemoAgent + "/replay",
		Token: harness.Token(t, harness.DemoTenant, "admin"), Body: raw})
	require.Equal(t, http.StatusOK, res.Status, "%.300s", res.Body)
	var r replayReport
	res.JSON(t, &r)
	assert.Equal(t, "bundle", r.Candidate.Source)
	require.Len(t, r.Sessions, 1)
	assert.Equal(t, recorded, r.Sessions[0].SessionID)
}
