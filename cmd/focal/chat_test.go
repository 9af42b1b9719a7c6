package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// focal chat reads messages from its input, streams each reply and shows
// what the engine decided; the session carries over between lines.
func TestChatStreamsRepliesAndShowsDecisions(t *testing.T) {
	app := harness.Start(t, nil)
	root := rootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader("Hi there!\nI want to return my jacket\nMy order number is AC-123456\n/quit\nnever sent\n"))
	root.SetArgs([]string{"chat", "--url", app.URL, "--token", harness.Token(t, harness.DemoTenant), "--agent", harness.DemoAgent})
	require.NoError(t, root.Execute())

	got := out.String()
	assert.Contains(t, got, "agent> I can help you return an item. What is your order number? It starts with AC-.")
	assert.Contains(t, got, "[rules: greeting · scenario: none")
	assert.Contains(t, got, "[rules: none · scenario: returns/ask_order")
	assert.Contains(t, got, "agent> Why are you returning the item", "the second line continued the session")
	assert.Contains(t, got, "scenario: returns/ask_reason")
	assert.NotContains(t, got, "never sent", "/quit ends the chat")
}

// An API error is shown and the chat goes on.
func TestChatShowsErrors(t *testing.T) {
	app := harness.Start(t, nil)
	root := rootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetIn(strings.NewReader("hello\n"))
	root.SetArgs([]string{"chat", "--url", app.URL, "--token", harness.Token(t, harness.DemoTenant), "--agent", "11111111-1111-4111-8111-111111111111"})
	require.NoError(t, root.Execute())
	assert.Contains(t, out.String(), "error: AGENT_NOT_FOUND (HTTP 404)")
}

func TestSessionsShow(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	root := rootCommand()
	var out strings.Builder
	root.SetOut(&out)
	root.SetIn(strings.NewReader("Hi there! I want to return my jacket\n"))
	root.SetArgs([]string{"chat", "--url", app.URL, "--token", token, "--agent", harness.DemoAgent, "--user", "shown"})
	require.NoError(t, root.Execute())

	var sessionID string
	res := app.Do(t, harness.Request{Method: "POST", Path: "/v1/chat", Token: token, Body: map[string]any{
		"agent_id": harness.DemoAgent, "channel": "cli", "user_channel_id": "shown", "message": "When will I get my refund?"}})
	var m map[string]any
	res.JSON(t, &m)
	sessionID = m["session_id"].(string)

	out.Reset()
	root = rootCommand()
	root.SetOut(&out)
	root.SetArgs([]string{"sessions", "show", sessionID, "--url", app.URL, "--token", token})
	require.NoError(t, root.Execute())
	got := out.String()
	header, _, _ := strings.Cut(got, "\n")
	assert.Regexp(t, "^session "+sessionID+" \\(active\\) · agent "+harness.DemoAgent+" · cli/shown · 2 turns · scenario [a-z_]+/[a-z_]+$", header)
	assert.Contains(t, got, "#1 user:  Hi there! I want to return my jacket")
	assert.Contains(t, got, "#2 user:  When will I get my refund?")
	assert.Contains(t, got, "fallback · rules: refund_timing")
	assert.Contains(t, got, "1 violations")
}
