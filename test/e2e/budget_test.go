package e2e

import (
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// Two instances on one store (MongoDB: the FerretDB test server, which
// loses concurrent $inc and conditional updates; PostgreSQL) charge one
// monthly budget: 50 turns at once at its edge, spread over both,
// overspend it by at most one turn's tokens per instance, and leave at
// most one block per instance of it unused. The usage both report adds up
// to every token spent.
func TestBudgetRaceAcrossTwoInstances(t *testing.T) {
	for _, store := range sharedStores {
		t.Run(store.name, func(t *testing.T) { budgetRace(t, store.env) })
	}
}

func budgetRace(t *testing.T, storeEnv func(t *testing.T, extra map[string]string) map[string]string) {
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	fake.SetResponder(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Text: "A reply of a fixed length."} })
	tenant := harness.DemoTenant
	admin, user := harness.Token(t, tenant, "admin"), harness.Token(t, tenant)
	turn := func(app *harness.App, who string) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: user, Body: plainBody(who, "One more, please")})
	}
	tokens := func(res *harness.Response) int64 {
		var r struct {
			TokensUsed int64 `json:"tokens_used"`
		}
		res.JSON(t, &r)
		return r.TokensUsed
	}

	// Every turn costs the same: a new session, the same message and reply.
	probe := startOnFakeModel(t, fake)
	addPlainAgent(t, probe)
	res := turn(probe, "probe")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	perTurn := tokens(res)
	require.Positive(t, perTurn)

	// Blocks of one turn, so that the instances claim often; ten and a
	// half turns of budget.
	block, budget := perTurn, 10*perTurn+perTurn/2
	env := storeEnv(t, map[string]string{"FOCAL_BUDGET_REFRESH": "0s", "FOCAL_BUDGET_BLOCK_TOKENS": strconv.FormatInt(block, 10)})
	a, b := startOnFakeModel(t, fake, env), startOnFakeModel(t, fake, env)
	addPlainAgent(t, a)
	// Both instances read the agent before the race (a message to an
	// unknown session runs no turn), so neither starts it behind.
	for _, app := range []*harness.App{a, b} {
		body := plainBody("warm", "hi")
		body["session_id"] = uuid.NewString()
		res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: user, Body: body})
		require.Equal(t, http.StatusNotFound, res.Status, "%s", res.Body)
	}
	res = a.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/budget", Token: admin, Body: map[string]any{"monthly_tokens": budget}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

	const turns = 50
	var mu sync.Mutex
	admitted := map[*harness.App]int64{}
	refused := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range turns {
		app := []*harness.App{a, b}[i%2]
		wg.Go(func() {
			<-start
			res := turn(app, "racer-"+strconv.Itoa(i))
			mu.Lock()
			defer mu.Unlock()
			switch res.Status {
			case http.StatusOK:
				admitted[app]++
				assert.Equal(t, perTurn, tokens(res))
			case http.StatusTooManyRequests:
				refused++
				assert.Contains(t, string(res.Body), `"code":"BUDGET_EXCEEDED"`)
			default:
				t.Errorf("turn %d: %d %s", i, res.Status, res.Body)
			}
		})
	}
	close(start)
	wg.Wait()
	spent := (admitted[a] + admitted[b]) * perTurn
	t.Logf("budget %d tokens (%d per turn, blocks of %d): instance A ran %d turns, B %d, %d refused; %d tokens spent",
		budget, perTurn, block, admitted[a], admitted[b], refused, spent)
	assert.Equal(t, turns, int(admitted[a]+admitted[b])+refused)
	assert.LessOrEqual(t, spent, budget+2*perTurn, "at most one turn's tokens over per instance")
	assert.GreaterOrEqual(t, spent, budget-2*block, "at most one block per instance left unused")

	// Stopping B writes its usage; A's is written when read.
	b.Stop(t)
	var usage struct {
		TotalTokens int64 `json:"total_tokens"`
		Turns       int64 `json:"turns"`
	}
	res = a.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/tenant/usage", Token: user})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &usage)
	assert.Equal(t, spent, usage.TotalTokens)
	assert.Equal(t, admitted[a]+admitted[b], usage.Turns)
}
