package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

var repo = filepath.Join("..", "..")

// The demo agent ships with conversation tests, and they pass.
func TestDemoConversationTestsPass(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 failed")
	assert.NotContains(t, out, "FAIL")
}

// A wrong expectation fails the run and the report shows, for each check,
// what was expected and what actually happened.
func TestWrongExpectationsFailWithExpectedAndActual(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join("testdata", "wrong-expectations.test.yaml"))
	require.Error(t, err)
	for _, want := range []string{
		`scenario: expected "returns/ask_order", got "none"`,
		`matched_rules: expected [shipping_time], got [store_hours]`,
		`reply: expected to equal "We never open.", got "Our stores are open`,
		`reply: expected to contain "24/7"`,
		`reply: expected not to contain "Sunday"`,
		`reply: expected to match /^Closed/`,
		`matched_rules_include: expected "store_hours" among the matches, got []`,
		`reask: expected to contain "the order is too old", got "\"AC-12345\" is not a valid order number`,
		`tools_called: expected [refund_lookup], got []`,
		`variables: expected order_id = "AC-999999", got order_id = "AC-123456"`,
		"0 passed, 4 failed",
	} {
		assert.Contains(t, out, want)
	}
}

func TestConversationTestsRejectUnknownKeys(t *testing.T) {
	_, err := runCLI(t, "test", filepath.Join(repo, "examples", "demo-agent.yaml"), filepath.Join("testdata", "misspelt.test.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "matched_rule")
}

// focal test shows, under each turn, the decisions and the nearest miss.
func TestConversationTestsShowNearMisses(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"))
	require.NoError(t, err, out)
	assert.Regexp(t, `rules: store_hours 1\.00 \(next: none\) · scenario: stay returns/ask_reason \(next: [a-z]+( [a-z_]+)? 0\.\d\d\) · digression: store_hours`, out)
	// A transition on a guard alone scores 1 when the guard holds.
	assert.Regexp(t, `rules: none \(next: [a-z_]+ 0\.\d\d\) · scenario: advance returns/ask_reason 1\.00 \(next: stay [01]\.\d\d\)`, out)
	assert.Regexp(t, `variables: order_id = AC-123456 \(extractor "ac123456"\)`, out, "the variables each turn set, by whom, from what")
}

// One more rule, about something else entirely, must not change what
// "I changed my mind" does at the reason step: move the return on, not
// leave it.
func TestAnUnrelatedRuleDoesNotMakeChangingYourMindLeaveTheReturn(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	p, err := application.ParseBundle(raw)
	require.NoError(t, err)
	p.Rules = append(p.Rules, domain.Rule{ID: "gift_cards", Condition: "gift cards", Action: "Explain gift cards.",
		Scope: domain.ScopeGlobal, Enabled: true, Examples: []string{"do you sell gift cards", "can I pay with a gift card",
			"how much is left on my gift card", "I'd like to buy a voucher for a friend"}})
	more, err := application.EncodeBundleYAML(p)
	require.NoError(t, err)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "demo-plus-one.yaml")
	require.NoError(t, os.WriteFile(bundle, more, 0o600))
	tests := filepath.Join(dir, "mind.test.yaml")
	require.NoError(t, os.WriteFile(tests, []byte(`name: changing your mind
conversations:
  - name: a reason, not an exit
    turns:
      - user: I want to return my coat
        expect: {scenario: returns/ask_order}
      - user: my order number is AC-135790
        expect: {scenario: returns/ask_reason}
      - user: I changed my mind
        expect: {scenario: returns/confirm, matched_rules: []}
`), 0o600))
	for _, b := range []string{filepath.Join(repo, "examples", "demo-agent.yaml"), bundle} {
		out, err := runCLI(t, "test", b, tests)
		require.NoError(t, err, "%s:\n%s", b, out)
		assert.Contains(t, out, "0 failed")
	}
}

// A return started again in a flow whose on_start is clear: the report
// shows the reason cleared, and an expectation of it finds it unset.
func TestConversationTestsShowWhatAFlowStartCleared(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	p, err := application.ParseBundle(raw)
	require.NoError(t, err)
	for i := range p.Scenarios {
		if p.Scenarios[i].ID == "returns" {
			p.Scenarios[i].OnStart = domain.StartClear
		}
	}
	clearing, err := application.EncodeBundleYAML(p)
	require.NoError(t, err)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "demo-clearing.yaml")
	require.NoError(t, os.WriteFile(bundle, clearing, 0o600))
	tests := filepath.Join(dir, "twice.test.yaml")
	require.NoError(t, os.WriteFile(tests, []byte(`name: two returns
conversations:
  - name: the second asks for its reason again
    turns:
      - user: I want to return my coat
        expect: {scenario: returns/ask_order}
      - user: my order number is AC-135790
        expect: {scenario: returns/ask_reason}
      - user: it was too small
        expect: {scenario: returns/confirm, variables: {reason: wrong_size}}
      - user: I want to return my scarf too
        expect: {scenario: returns/ask_order, variables: {reason: wrong_size}}
`), 0o600))
	out, err := runCLI(t, "test", bundle, tests)
	require.Error(t, err, out)
	assert.Contains(t, out, "variables: order_id cleared (on_start); reason cleared (on_start)")
	assert.Contains(t, out, `variables: expected reason = "wrong_size", got none set`)
	assert.Contains(t, out, "3 passed, 1 failed")
}

func TestLintPrintsWarnings(t *testing.T) {
	out, err := runCLI(t, "lint", filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "demo-agent.yaml: 0 warnings", "the demo agent lints clean")

	old := filepath.Join("testdata", "one-word-conditions.yaml")
	out, err = runCLI(t, "lint", old)
	require.NoError(t, err, "warnings alone do not fail: %s", out)
	assert.Contains(t, out, `rules[9].condition: every phrasing of rule damaged_item is one word ("damaged", "broken", "torn", "defective")`)
	assert.Contains(t, out, "(one_word_condition)")
	assert.Contains(t, out, "scenarios[0].steps[0].transitions[0]")
	_, err = runCLI(t, "lint", "--strict", old)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "warnings (--strict)")

	broken := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("agent: {id: 6ba7b810-9dad-11d1-80b4-00c04fd430c8, name: x}\nrules: [{id: r, condition: '', action: a}]\n"), 0o600))
	_, err = runCLI(t, "lint", broken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rules[0].condition")
}

// A test file's stand-in for a tool is called over HTTP and its answer
// reaches the reply; a stand-in for a tool the bundle lacks, or one that
// both fails and answers, is refused before anything runs.
func TestConversationTestsStandInForTools(t *testing.T) {
	out, err := runCLI(t, "test",
		filepath.Join(repo, "examples", "demo-agent.yaml"),
		filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"))
	require.NoError(t, err, out)
	assert.Contains(t, out, `item_name = blue denim jacket (tool "order_lookup")`)
	assert.Contains(t, out, "tools: order_lookup ok")
	assert.Contains(t, out, "tools: order_lookup (tool order_lookup failed: it answered HTTP 503)", "a failed call shows with its error")

	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		return path
	}
	for _, bad := range []struct{ file, text, want string }{
		{"unknown.test.yaml", "tools:\n  crm_lookup: {variables: {tier: gold}}\n",
			"tools.crm_lookup: the conversation tests stand in for a tool the bundle does not declare"},
		{"status.test.yaml", "tools:\n  order_lookup: {status: 200}\n",
			"tools.order_lookup.status: 200 is not a failure status"},
		{"both.test.yaml", "tools:\n  order_lookup: {status: 503, variables: {item_name: coat}}\n",
			"a stand-in answers variables or fails with a status, not both"},
	} {
		text := bad.text + "conversations:\n  - name: one\n    turns: [{user: hello}]\n"
		_, err = runCLI(t, "test", filepath.Join(repo, "examples", "demo-agent.yaml"), write(bad.file, text))
		require.Error(t, err, bad.file)
		assert.Contains(t, err.Error(), bad.want)
	}
	_, err = runCLI(t, "test", filepath.Join(repo, "examples", "demo-agent.yaml"), write("conversation.test.yaml",
		"conversations:\n  - name: one\n    tools:\n      order_lookup: {status: 302}\n    turns: [{user: hello}]\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `conversation "one": tools.order_lookup.status: 302 is not a failure status`)
}
