package component

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/application"
	"focal/application/labelled"
	"focal/bootstrap"
	"focal/domain"
	"focal/test/harness"
)

// explainScript is what the customers say: the demo's return flow with
// short replies (read with what the agent last asked), questions answered
// mid-flow, and Banking77 messages, with the agent's policy changed
// between the rounds, so that the turns span versions.
func explainScript(t *testing.T) [][]string {
	t.Helper()
	path := filepath.Join(harness.RepoRoot(), "testdata", "banking77", "test.csv")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	rows, err := labelled.Read(path, data)
	require.NoError(t, err)
	flow := []string{"Hi there!", "I want to return my jacket", "AC-123456", "What time do you open on Sunday?", "wrong size",
		"yes", "When will I get my refund?", "I want to place an order", "ok", "no", "where is my order", "cancel"}
	var rounds [][]string
	for r := range 3 {
		round := append([]string(nil), flow...)
		for i := r; i < len(rows); i += 150 {
			round = append(round, rows[i].Text)
		}
		rounds = append(rounds, round)
	}
	return rounds
}

// explainApp is one server of the comparison, its policy admin, its
// session and turns.
type explainApp struct {
	app     *harness.App
	admin   *application.PolicyAdmin
	token   string
	session string
	turns   []string
}

func (a *explainApp) chat(t *testing.T, user, message string) {
	t.Helper()
	res := a.app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: a.token, Body: harness.ChatBody(user, message)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var got struct {
		SessionID string `json:"session_id"`
		TurnID    string `json:"turn_id"`
	}
	res.JSON(t, &got)
	a.session = got.SessionID
	a.turns = append(a.turns, got.TurnID)
}

// newVersion adds an example to the greeting rule: a new version of the
// demo agent, whose matcher differs. It writes through the use case the
// rule's PUT calls, not HTTP: the PUT's answer lints the policy, which
// trains its matchers several times over (most of this test's time under
// -race), and its warnings are no part of what is compared here.
func (a *explainApp) newVersion(t *testing.T, example string) {
	t.Helper()
	_, err := a.admin.Edit(t.Context(), harness.DemoTenant, harness.DemoAgent, 0, func(p *domain.Policy) error {
		for i := range p.Rules {
			if p.Rules[i].ID == "greeting" {
				p.Rules[i].Examples = append(p.Rules[i].Examples, example)
				return nil
			}
		}
		return errors.New("the demo agent has no greeting rule")
	})
	require.NoError(t, err)
}

// explanations are the explanations of the session's turns as the API
// gives them (the list, then each turn by id), with the tool calls'
// latencies, which are the only part of an explanation two runs measure,
// left out.
func (a *explainApp) explanations(t *testing.T) []string {
	t.Helper()
	var out []string
	keep := func(raw json.RawMessage) {
		var x map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &x))
		var calls []map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(x["tool_calls"], &calls))
		for _, c := range calls {
			delete(c, "latency_ms")
		}
		b, err := json.Marshal(calls)
		require.NoError(t, err)
		// The rest byte for byte: the keys in the order the server wrote them.
		rest := bytes.Replace(raw, x["tool_calls"], b, 1)
		out = append(out, string(rest))
	}
	res := a.app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + a.session + "/turns?limit=100", Token: a.token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var page struct {
		Items []struct {
			Explanation json.RawMessage `json:"explanation"`
		} `json:"items"`
	}
	res.JSON(t, &page)
	for _, it := range page.Items {
		keep(it.Explanation)
	}
	for _, id := range a.turns {
		res := a.app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + id, Token: a.token})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var turn struct {
			Explanation json.RawMessage `json:"explanation"`
		}
		res.JSON(t, &turn)
		keep(turn.Explanation)
	}
	return out
}

// The turn records the API gives of turns that left their explanation to
// the reader are byte for byte those of turns that wrote it whole, on the
// memory and the SQLite stores, over three versions of the agent; on
// SQLite also once the server has restarted, when every version is
// compiled again from the store's policy history to read them.
func TestDeferredExplanationsThroughTheAPI(t *testing.T) {
	for _, store := range []string{"memory", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			envOf := func(name string) map[string]string {
				return map[string]string{"FOCAL_STORE": store, "FOCAL_SQLITE_PATH": filepath.Join(dir, name+".db")}
			}
			start := func(name string, extra ...fx.Option) *explainApp {
				a := &explainApp{token: harness.Token(t, harness.DemoTenant)}
				a.app = harness.Start(t, envOf(name), append(extra, fx.Populate(&a.admin))...)
				return a
			}
			eager := start("eager", fx.Supply(bootstrap.ExplainEagerly(true)))
			lazy := start("lazy")
			for r, round := range explainScript(t) {
				if r > 0 {
					for _, a := range []*explainApp{eager, lazy} {
						a.newVersion(t, fmt.Sprintf("good day to you %d", r))
					}
				}
				for _, msg := range round {
					eager.chat(t, "explained", msg)
					lazy.chat(t, "explained", msg)
				}
			}
			want, got := eager.explanations(t), lazy.explanations(t)
			require.Len(t, got, len(want))
			examples := 0
			for i := range want {
				require.Equal(t, want[i], got[i], "turn record %d", i)
				require.NotContains(t, got[i], `"deferred"`)
				examples += bytes.Count([]byte(want[i]), []byte(`"nearest_example"`))
			}
			require.Positive(t, examples, "the turns must name examples")
			if store != "sqlite" {
				return
			}
			lazy.app.Stop(t)
			restarted := start("lazy")
			restarted.session, restarted.turns = lazy.session, lazy.turns
			require.Equal(t, want, restarted.explanations(t), "read by a server that compiled no version yet")
		})
	}
}
