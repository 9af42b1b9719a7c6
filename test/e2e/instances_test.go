package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// mongoEnv is the environment of instances sharing one database of their
// own on the MongoDB test server; extra adds or overrides settings.
func mongoEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"FOCAL_STORE": "mongo", "FOCAL_MONGO_ALLOW_STANDALONE": "true", "FOCAL_MONGO_URI": mongoURI(t),
		"FOCAL_MONGO_DB": "focal_e2e_" + strings.ReplaceAll(uuid.NewString()[:13], "-", ""),
	}
	maps.Copy(env, extra)
	return env
}

// A policy change made through one instance's API is served by every
// instance within FOCAL_POLICY_REFRESH (docs/api.md, docs/operations.md):
// the other instance serves the old rule before the change, and every turn
// it starts once the refresh has passed after the write uses the new one.
// The instances are processes of their own, on each shared store.
func TestPolicyChangeReachesEveryInstanceWithinTheRefresh(t *testing.T) {
	const refresh = 200 * time.Millisecond
	eachStore(t, map[string]string{"FOCAL_POLICY_REFRESH": refresh.String()}, func(t *testing.T, env map[string]string) {
		policyChangeReachesTheOtherInstance(t, env, refresh)
	})
}

func policyChangeReachesTheOtherInstance(t *testing.T, env map[string]string, refresh time.Duration) {
	a, _ := startProcess(t, nil, env)
	b, _ := startProcess(t, nil, env)
	tenant, agent := uuid.NewString(), uuid.NewString()
	admin, reader := harness.Token(t, tenant, "admin"), harness.Token(t, tenant)
	const winter, summer = "Winter hours: 9 to 5.", "Summer hours: 7 to 9."
	res := a.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + agent + "/bundle", Token: admin, Body: map[string]any{
		"agent": map[string]any{"id": agent, "name": "Hours"},
		"rules": []map[string]any{{"id": "hours", "condition": "opening hours; when are you open",
			"action": "Give the opening hours.", "template_ids": []string{"winter"}}},
		"templates": []map[string]any{
			{"id": "winter", "mode": "exclusive", "text": winter},
			{"id": "summer", "mode": "exclusive", "text": summer},
		},
	}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	ask := func(app *harness.App) string {
		t.Helper()
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: reader, Body: map[string]any{
			"agent_id": agent, "channel": "webchat", "user_channel_id": "rider", "message": "When are you open?"}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var out struct{ Response string }
		res.JSON(t, &out)
		return out.Response
	}
	require.Equal(t, winter, ask(b), "instance B serves the rule as first written, and caches it")

	res = a.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + agent + "/rules/hours", Token: admin,
		Body: map[string]any{"condition": "opening hours; when are you open", "action": "Give the opening hours.",
			"template_ids": []string{"summer"}}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	written := time.Now()
	assert.Equal(t, summer, ask(a), "the writing instance serves the change at once")

	deadline := written.Add(30 * time.Second)
	for turns := 1; ; turns++ {
		started := time.Now()
		got := ask(b)
		if got == summer {
			t.Logf("instance B served the change %s after the write, on its turn %d since", time.Since(written), turns)
			break
		}
		require.Equal(t, winter, got)
		require.False(t, started.After(written.Add(refresh+loadSlack)),
			"a turn instance B started %s after the write still used the old rule", started.Sub(written))
		require.True(t, time.Now().Before(deadline), "instance B never served the change")
	}
	assert.Equal(t, summer, ask(b), "and keeps serving it")
}

// A reconnect with Last-Event-ID, on another instance than the one that
// streamed the turn, replays the events after the one named from the turn
// record, with the same ids and data; the model is not asked again. The
// instances are processes of their own, on each shared store.
func TestLastEventIDReplaysOnAnotherInstance(t *testing.T) {
	eachStore(t, nil, lastEventIDReplaysOnTheOtherInstance)
}

func lastEventIDReplaysOnTheOtherInstance(t *testing.T, env map[string]string) {
	fake := newFakeModel(t)
	a, _ := startProcess(t, fake, env)
	b, _ := startProcess(t, fake, env)
	addPlainAgent(t, a)
	token := harness.Token(t, harness.DemoTenant)
	fake.Enqueue(fakellm.Reply{Deltas: []string{"One, ", "two, ", "three ", "and four."}})
	body := plainBody("replayer", "count to four")

	first := stream(t, context.Background(), a, token, body)
	require.Equal(t, http.StatusOK, first.status)
	tokens, done := checkGrammar(t, first)
	require.Equal(t, "done", done.Type)
	require.Len(t, tokens, 4)
	turnID, _, _ := strings.Cut(done.LastEventID, ":")

	for _, after := range []int{0, 2, 4} {
		again := stream(t, context.Background(), b, token, body, "Last-Event-ID", turnID+":"+strconv.Itoa(after))
		require.Equal(t, http.StatusOK, again.status, "%s", again.body)
		want := first.events[after:]
		require.Len(t, again.events, len(want), "the events after %d", after)
		for i, ev := range again.events {
			assert.Equal(t, want[i].LastEventID, ev.LastEventID)
			assert.Equal(t, want[i].Type, ev.Type)
			if ev.Type == "token" {
				assert.Equal(t, want[i].Data, ev.Data)
			}
		}
		var original, replayed map[string]any
		require.NoError(t, json.Unmarshal([]byte(done.Data), &original))
		require.NoError(t, json.Unmarshal([]byte(again.events[len(again.events)-1].Data), &replayed))
		for _, k := range []string{"response", "session_id", "turn_id", "matched_rules", "tools_called", "tokens_used"} {
			assert.Equal(t, original[k], replayed[k], "done.%s", k)
		}
	}
	assert.Equal(t, 1, fake.Count(), "replays never call the model")
}

// Every instance imports FOCAL_BOOTSTRAP_BUNDLE when it starts; an
// unchanged bundle makes no new version however often instances restart,
// and a changed one makes exactly one.
func TestUnchangedBootstrapBundleMakesNoNewVersion(t *testing.T) {
	env := mongoEnv(t, nil)
	admin := harness.Token(t, harness.DemoTenant, "admin")
	version := func(app *harness.App) string {
		t.Helper()
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents/" + harness.DemoAgent, Token: admin})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		return res.Header.Get("ETag")
	}
	first := harness.Start(t, env)
	require.Equal(t, `"1"`, version(first))
	first.Stop(t)

	restarted := harness.Start(t, env)
	assert.Equal(t, `"1"`, version(restarted), "a restart with the same bundle")
	restarted.Stop(t)

	demo, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	changed := strings.Replace(string(demo), "\nrules:\n", "\nrules:\n  - {id: added_at_restart, condition: gift wrapping, action: Offer gift wrapping.}\n", 1)
	require.NotEqual(t, string(demo), changed, "the bundle was changed")
	path := filepath.Join(t.TempDir(), "changed.yaml")
	require.NoError(t, os.WriteFile(path, []byte(changed), 0o600))
	env["FOCAL_BOOTSTRAP_BUNDLE"] = path
	upgraded, again := harness.Start(t, env), harness.Start(t, env)
	assert.Equal(t, `"2"`, version(upgraded), "a changed bundle is one new version")
	assert.Equal(t, `"2"`, version(again), "however many instances start with it")
	res := upgraded.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/agents/" + harness.DemoAgent + "/rules", Token: admin})
	var rules struct{ Items []struct{ ID string } }
	res.JSON(t, &rules)
	assert.True(t, slices.ContainsFunc(rules.Items, func(r struct{ ID string }) bool { return r.ID == "added_at_restart" }))
}
