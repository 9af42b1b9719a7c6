// Package component boots the real Focal application (memory store, offline
// model, demo agent) and drives it over HTTP.
package component

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// chatResponse mirrors ChatResponse with every field as a pointer or raw
// value, so a missing field is told apart from an empty one.
type chatResponse struct {
	Response     *string            `json:"response"`
	SessionID    *string            `json:"session_id"`
	TurnID       *string            `json:"turn_id"`
	Scenario     *map[string]string `json:"scenario"`
	MatchedRules *[]string          `json:"matched_rules"`
	ToolsCalled  *[]string          `json:"tools_called"`
	TokensUsed   *int               `json:"tokens_used"`
	LatencyMS    *int64             `json:"latency_ms"`
}

func chat(t *testing.T, app *harness.App, token string, body map[string]any) (*harness.Response, map[string]any) {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: body})
	var m map[string]any
	res.JSON(t, &m)
	return res, m
}

// The demo agent greets, then walks a customer through a return: the
// scenario starts on the first message about it, advances on the order number, stays put while a store
// question is answered by an exclusive template, and ends on its terminal
// step; a refund question never gets the forbidden promise.
func TestDemoConversation(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)

	type want struct {
		response string
		scenario map[string]string // nil: no scenario
		matched  []string
	}
	turns := []struct {
		message string
		want    want
	}{
		{"Hi there!", want{
			response: "Hi! I'm the Acme Outfitters assistant. I can help with store hours, orders, shipping and returns.",
			scenario: nil,
			matched:  []string{"greeting"},
		}},
		{"I want to return my jacket", want{
			response: "I can help you return an item. What is your order number? It starts with AC-.",
			scenario: map[string]string{"id": "returns", "step": "ask_order"},
			matched:  []string{},
		}},
		{"My order number is AC-123456", want{
			response: "Why are you returning the item - wrong size, damaged, or something else?",
			scenario: map[string]string{"id": "returns", "step": "ask_reason"},
			matched:  []string{},
		}},
		{"What time do you open on Sunday?", want{
			// Answered mid-flow: the step's question follows, and the flow stays.
			response: "Our stores are open Monday to Saturday from 9am to 8pm, and Sunday from 10am to 6pm.\n\n" +
				"Why are you returning the item - wrong size, damaged, or something else?",
			scenario: map[string]string{"id": "returns", "step": "ask_reason"},
			matched:  []string{"store_hours"},
		}},
		{"It was the wrong size", want{
			// The order lookup is not served here: the template's default.
			response: "Your return for order AC-123456 is registered. A prepaid return label is on its way to your email. Anything else I can help with?",
			scenario: map[string]string{"id": "returns", "step": "confirm"},
			matched:  []string{},
		}},
		{"When will I get my refund?", want{
			response: "Refunds are processed by our returns team once your parcel arrives, usually within 5 business days.",
			scenario: nil,
			matched:  []string{"refund_timing"},
		}},
	}

	var sessionID string
	for i, turn := range turns {
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
			Body: harness.ChatBody("customer-42", turn.message)})
		require.Equal(t, http.StatusOK, res.Status, "turn %d: %s", i+1, res.Body)

		var got chatResponse
		res.JSON(t, &got)
		require.NotNil(t, got.Response, "response field")
		require.NotNil(t, got.SessionID, "session_id field")
		require.NotNil(t, got.TurnID, "turn_id field")
		require.NotNil(t, got.MatchedRules, "matched_rules field")
		require.NotNil(t, got.ToolsCalled, "tools_called field")
		require.NotNil(t, got.TokensUsed, "tokens_used field")
		require.NotNil(t, got.LatencyMS, "latency_ms field")
		assert.Contains(t, string(res.Body), `"scenario":`, "scenario field is always present")

		assert.Equal(t, turn.want.response, *got.Response, "turn %d reply", i+1)
		if turn.want.scenario == nil {
			assert.Nil(t, got.Scenario, "turn %d scenario", i+1)
		} else {
			require.NotNil(t, got.Scenario, "turn %d scenario", i+1)
			assert.Equal(t, turn.want.scenario, *got.Scenario, "turn %d scenario", i+1)
		}
		assert.Equal(t, turn.want.matched, *got.MatchedRules, "turn %d matched rules", i+1)
		assert.Equal(t, []string{}, *got.ToolsCalled)
		assert.Zero(t, *got.TokensUsed, "the offline model spends no tokens")
		assert.NotContains(t, strings.ToLower(*got.Response), "guaranteed refund", "hard constraint")
		if i == 0 {
			sessionID = *got.SessionID
		}
		assert.Equal(t, sessionID, *got.SessionID, "one conversation, one session")
	}

	// The session reflects every turn: count, the finished scenario, fires.
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var session struct {
		TurnCount int                       `json:"turn_count"`
		Status    string                    `json:"status"`
		Scenario  *map[string]any           `json:"scenario"`
		RuleFires map[string]map[string]int `json:"rule_fires"`
		History   []map[string]any          `json:"visit_history"`
	}
	res.JSON(t, &session)
	assert.Equal(t, len(turns), session.TurnCount)
	assert.Equal(t, "active", session.Status)
	assert.Nil(t, session.Scenario, "the terminal step ended the scenario")
	assert.Equal(t, map[string]int{"count": 1, "last_turn": 4}, session.RuleFires["store_hours"])
	assert.Equal(t, map[string]int{"count": 1, "last_turn": 1}, session.RuleFires["greeting"])
	require.Len(t, session.History, 3)
	assert.Equal(t, []any{"ask_order", "ask_reason", "confirm"},
		[]any{session.History[0]["step_id"], session.History[1]["step_id"], session.History[2]["step_id"]})

	// The refund turn's record shows the constraint at work: the suggested
	// promo text broke it and the fallback template answered instead.
	var last struct {
		Items []struct {
			TurnNumber  int `json:"turn_number"`
			Explanation struct {
				Generation  map[string]any `json:"generation"`
				Enforcement struct {
					Violations []map[string]any `json:"violations"`
					Fallback   bool             `json:"fallback"`
				} `json:"enforcement"`
			} `json:"explanation"`
		} `json:"items"`
	}
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID + "/turns?order=desc&limit=1", Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &last)
	require.Len(t, last.Items, 1)
	assert.Equal(t, 6, last.Items[0].TurnNumber)
	enf := last.Items[0].Explanation.Enforcement
	require.Len(t, enf.Violations, 1)
	assert.Equal(t, "no_refund_promises", enf.Violations[0]["rule_id"])
	assert.True(t, enf.Fallback)
	assert.Equal(t, "tpl_refund_fallback", last.Items[0].Explanation.Generation["template_id"])
}

// A rule limited to one fire per session does not match twice.
func TestMaxFiresPerSession(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	_, first := chat(t, app, token, harness.ChatBody("repeat-greeter", "hello"))
	assert.Equal(t, []any{"greeting"}, first["matched_rules"])
	_, second := chat(t, app, token, harness.ChatBody("repeat-greeter", "hello"))
	assert.Equal(t, []any{}, second["matched_rules"])
	assert.Equal(t, first["session_id"], second["session_id"])
}

// Twenty first messages from one user at once open exactly one session.
func TestConcurrentFirstMessagesShareOneSession(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
				Body: harness.ChatBody("racer", "what time do you close?")})
			if !assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body) {
				return
			}
			var m map[string]any
			res.JSON(t, &m)
			ids[i], _ = m["session_id"].(string)
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + ids[0], Token: token})
	var s map[string]any
	res.JSON(t, &s)
	assert.EqualValues(t, n, s["turn_count"], "every message became a turn of the one session")
}
