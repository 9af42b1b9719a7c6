package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// Returning users are seeded through the API into the scenario of the
// policy the load then runs on: with openings the engine starts it with,
// and, at a rule count where none does, under the smaller policy with the
// measured one published back before the load.
func TestSeededUsersAreInTheScenarioOfThePolicyServed(t *testing.T) {
	p, err := loadPhrases("testdata/banking77/train.csv")
	require.NoError(t, err)
	serve := func(b *bench, rules int) *chatClient {
		bundle, err := b.bundleFile(rules)
		require.NoError(t, err)
		app := harness.Start(t, map[string]string{"FOCAL_BOOTSTRAP_BUNDLE": bundle, "FOCAL_JWT_SECRET": benchSecret,
			"FOCAL_RATE_LIMIT_ENTERPRISE": "100000000"})
		return newChatClient(app.URL, token())
	}

	b := &bench{work: t.TempDir(), phrases: p, users: 12}
	c := serve(b, seedRules)
	active, how, err := b.seedUsers(c, seedRules)
	require.NoError(t, err)
	require.Equal(t, b.users, active, how)
	require.Contains(t, how, "card_arrival phrasings that start it in process")

	// A rule count at which, as the engine in process might say, no
	// phrasing starts the scenario.
	const rules = 150
	b = &bench{work: t.TempDir(), phrases: p, users: 12,
		chosen: map[int]openingChoice{rules: {messages: p.listedOpenings(), tried: 153, best: 0.01}}}
	c = serve(b, rules)
	active, how, err = b.seedUsers(c, rules)
	require.NoError(t, err)
	require.Equal(t, b.users, active, how)
	require.Contains(t, how, "none of 153 card_arrival phrasings starts it in process, best entry score 0.01, so seeded under the 100-rule policy with the ")
	body, err := c.get("/v1/agents/" + benchAgent + "/bundle")
	require.NoError(t, err)
	var served struct{ Rules []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &served))
	require.Equal(t, rules, len(served.Rules), "the load runs on the policy of the rule count measured")
	a, err := c.chat("ret-3", p.messages()[7])
	require.NoError(t, err)
	s, err := c.session(a.SessionID)
	require.NoError(t, err)
	require.NotNil(t, s.Scenario, "a returning user's turn under that policy is in the scenario")
}
