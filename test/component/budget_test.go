package component

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// tokensOf is a chat answer's tokens_used.
func tokensOf(t *testing.T, res *harness.Response) int64 {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var r struct {
		TokensUsed int64 `json:"tokens_used"`
	}
	res.JSON(t, &r)
	return r.TokensUsed
}

type usageBody struct {
	Month       string `json:"month"`
	TotalTokens int64  `json:"total_tokens"`
	Turns       int64  `json:"turns"`
	Budget      *struct {
		MonthlyTokens   int64 `json:"monthly_tokens"`
		RemainingTokens int64 `json:"remaining_tokens"`
	} `json:"budget"`
	ResetsAt time.Time `json:"resets_at"`
}

func usageOf(t *testing.T, app *harness.App, token string) usageBody {
	t.Helper()
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/usage", Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var u usageBody
	res.JSON(t, &u)
	return u
}

// A tenant's turns are charged to its monthly budget; set mid-month it
// counts what was spent before; the turn that would start past it answers
// 429 BUDGET_EXCEEDED with when it resets, on every chat route, and is not
// kept for its Idempotency-Key; the last turn admitted overspends by less
// than one turn; usage is readable and exported; removing the budget lifts
// the limit.
func TestMonthlyBudget(t *testing.T) {
	app, _ := startOnFakeModel(t, nil)
	ta := newTenant(t, app)
	perTurn := tokensOf(t, ta.turn(t, app, "warm-up"))
	require.Positive(t, perTurn, "the fake model reports usage")

	// The month so far (one turn) counts: 3.5 turns are left.
	budget := perTurn + 3*perTurn + perTurn/2
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/budget", Token: ta.admin,
		Body: map[string]any{"monthly_tokens": budget}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.JSONEq(t, `{"monthly_tokens":`+strconv.FormatInt(budget, 10)+`,"remaining_tokens":`+strconv.FormatInt(budget-perTurn, 10)+`}`,
		withoutSetAt(t, res))

	for i := range 4 {
		assert.Equal(t, perTurn, tokensOf(t, ta.turn(t, app, "spender-"+strconv.Itoa(i))), "turn %d", i+1)
	}
	res = ta.turn(t, app, "spender-4")
	body := requireError(t, res, http.StatusTooManyRequests, "BUDGET_EXCEEDED")
	now := time.Now().UTC()
	reset := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	assert.Contains(t, body.Error.Message, reset.Format(time.RFC3339))
	retryAfter, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, time.Until(reset).Seconds(), float64(retryAfter), 60)

	u := usageOf(t, app, ta.user)
	assert.Equal(t, now.Format("2006-01"), u.Month)
	assert.Equal(t, 5*perTurn, u.TotalTokens, "every turn counted, the warm-up too")
	assert.EqualValues(t, 5, u.Turns)
	require.NotNil(t, u.Budget)
	assert.Zero(t, u.Budget.RemainingTokens)
	assert.LessOrEqual(t, u.TotalTokens-budget, perTurn, "overspent by at most one turn")
	assert.True(t, reset.Equal(u.ResetsAt))

	// The other chat routes refuse alike, before any stream starts.
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: ta.user,
		Body: map[string]any{"agent_id": plainAgent, "channel": "webchat", "user_channel_id": "s", "message": "Hi"}})
	requireError(t, res, http.StatusTooManyRequests, "BUDGET_EXCEEDED")
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Token: ta.user,
		Body: map[string]any{"model": plainAgent, "user": "c", "messages": []map[string]any{{"role": "user", "content": "Hi"}}}})
	require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	assert.Contains(t, string(res.Body), `"type":"insufficient_quota"`)
	assert.Contains(t, string(res.Body), `"code":"BUDGET_EXCEEDED"`)

	// A refused turn's Idempotency-Key is released: after the budget is
	// raised the retry runs.
	retry := harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: ta.user, Headers: map[string]string{"Idempotency-Key": "budget-retry"},
		Body: map[string]any{"agent_id": plainAgent, "channel": "webchat", "user_channel_id": "retrier", "message": "Tell me something"}}
	requireError(t, app.Do(t, retry), http.StatusTooManyRequests, "BUDGET_EXCEEDED")
	res = app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/budget", Token: ta.admin,
		Body: map[string]any{"monthly_tokens": budget + 2*perTurn}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, perTurn, tokensOf(t, app.Do(t, retry)))

	res = app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/tenant/budget", Token: ta.admin})
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	for i := range 3 {
		tokensOf(t, ta.turn(t, app, "unlimited-"+strconv.Itoa(i)))
	}
	assert.Nil(t, usageOf(t, app, ta.user).Budget)
	requireError(t, app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/tenant/budget", Token: ta.admin}), http.StatusNotFound, "NOT_FOUND")
	requireError(t, app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/budget", Token: ta.user,
		Body: map[string]any{"monthly_tokens": 10}}), http.StatusForbidden, "FORBIDDEN")
	requireError(t, app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/budget", Token: ta.admin,
		Body: map[string]any{"monthly_tokens": 0}}), http.StatusBadRequest, "INVALID_REQUEST")

	// Metrics count the tokens and the refusals, without tenant ids.
	m := scrape(t, app)
	assert.Positive(t, metricValue(t, m, "focal_tenant_tokens_total", map[string]string{"kind": "completion"}))
	assert.GreaterOrEqual(t, metricValue(t, m, "focal_budget_refusals_total", nil), 4.0)
	for _, s := range m["focal_tenant_tokens_total"].samples {
		assert.Empty(t, string(s.Metric["tenant_id"]), "no tenant ids by default")
	}
}

// withoutSetAt is a budget body without its set_at, which is now.
func withoutSetAt(t *testing.T, res *harness.Response) string {
	t.Helper()
	var b map[string]any
	res.JSON(t, &b)
	_, err := time.Parse(time.RFC3339Nano, b["set_at"].(string))
	require.NoError(t, err)
	delete(b, "set_at")
	out, err := jsonMarshal(b)
	require.NoError(t, err)
	return out
}

// With FOCAL_METRICS_TENANT_USAGE usage metrics carry the tenant's id.
func TestUsageMetricsPerTenantWhenAskedFor(t *testing.T) {
	app, _ := startOnFakeModel(t, map[string]string{"FOCAL_METRICS_TENANT_USAGE": "true"})
	ta := newTenant(t, app)
	perTurn := tokensOf(t, ta.turn(t, app, "metered"))
	m := scrape(t, app)
	prompt := metricValue(t, m, "focal_tenant_tokens_total", map[string]string{"tenant_id": ta.id, "kind": "prompt"})
	completion := metricValue(t, m, "focal_tenant_tokens_total", map[string]string{"tenant_id": ta.id, "kind": "completion"})
	assert.EqualValues(t, perTurn, prompt+completion)
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
