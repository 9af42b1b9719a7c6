package main

import (
	"bytes"
	"encoding/xml"
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
	t.Setenv("FOCAL_TOOLS_ALLOWED_HOSTS", demoToolsAddr) // as make run sets it, for the demo's tool
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

// junitOf reads a JUnit file back as a CI system would.
type junitOf struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		File     string `xml:"file,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitOf {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var j junitOf
	require.NoError(t, xml.Unmarshal(raw, &j), string(raw))
	return j
}

// --junit writes the report when a conversation fails, which is when CI
// needs it most, and when all pass; the readable report still goes to
// stdout, and no temporary file is left beside it. A file that cannot be
// written fails the command.
func TestJUnitReportIsWrittenWhetherTestsPassOrFail(t *testing.T) {
	demo, wrong := filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"), filepath.Join("testdata", "wrong-expectations.test.yaml")
	dir := t.TempDir()
	failing := filepath.Join(dir, "failing.xml")
	require.NoError(t, os.WriteFile(failing, []byte("stale"), 0o600))
	out, err := runCLI(t, "test", "--junit", failing, filepath.Join(repo, "examples", "demo-agent.yaml"), demo, wrong)
	require.Error(t, err)
	assert.Contains(t, out, "0 passed, 4 failed", "the readable report still goes to stdout")
	j := readJUnit(t, failing)
	require.Len(t, j.Suites, 2)
	assert.Equal(t, []any{"demo agent", demo, 0}, []any{j.Suites[0].Name, j.Suites[0].File, j.Suites[0].Failures})
	assert.Equal(t, []any{"wrong on purpose", wrong, 2, 2}, []any{j.Suites[1].Name, j.Suites[1].File, j.Suites[1].Tests, j.Suites[1].Failures})
	assert.Equal(t, j.Suites[0].Tests+2, j.Tests)
	assert.Equal(t, 2, j.Failures)
	hours := j.Suites[1].Cases[0]
	assert.Equal(t, []any{"wrong on purpose", "store hours"}, []any{hours.Classname, hours.Name})
	require.NotNil(t, hours.Failure)
	assert.Equal(t, `scenario: expected "returns/ask_order", got "none"`, hours.Failure.Message, "the first failure")
	assert.Contains(t, hours.Failure.Text, "✗ matched_rules: expected [shipping_time], got [store_hours]")
	assert.Contains(t, out, hours.Failure.Text, "the failure's text is the turns as stdout shows them")

	passing := filepath.Join(dir, "passing.xml")
	out, err = runCLI(t, "test", "--junit", passing, "--run", "cancel", filepath.Join(repo, "examples", "demo-agent.yaml"), demo)
	require.NoError(t, err, out)
	j = readJUnit(t, passing)
	assert.Equal(t, []int{1, 0}, []int{j.Tests, j.Failures})
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "only the two reports, no temporary file: %v", entries)

	_, err = runCLI(t, "test", "--junit", filepath.Join(dir, "missing", "r.xml"), "--run", "cancel", filepath.Join(repo, "examples", "demo-agent.yaml"), demo)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--junit")
}

// --run plays, in every file, only the conversations whose name matches,
// --skip leaves out those whose name matches, and the summary counts those
// left out apart from those that passed. A selection of nothing, or a
// regexp that does not compile, fails before anything runs.
func TestRunSelectsConversationsByName(t *testing.T) {
	bundle := filepath.Join(repo, "examples", "demo-agent.yaml")
	demo, wrong := filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml"), filepath.Join("testdata", "wrong-expectations.test.yaml")
	out, err := runCLI(t, "test", "--run", "cancel|typo", bundle, demo, wrong)
	require.Error(t, err, "the typo conversation fails")
	assert.Contains(t, out, "cancel leaves the flow")
	assert.NotContains(t, out, "a jacket that did not fit goes back")
	assert.Regexp(t, `demo agent\n  cancel leaves the flow\n(.*\n)*  1 conversation, \d+ turns?: \d+ passed, 0 failed \(19 not run: --run/--skip\)\n`, out)
	assert.Contains(t, out, "  return with a typo\n")
	assert.NotContains(t, out, "  store hours\n")
	assert.Regexp(t, `1 conversation, \d+ turns?: \d+ passed, [1-9] failed \(1 not run: --run/--skip\)\n$`, out)

	out, err = runCLI(t, "test", "--run", "no such conversation", bundle, demo, wrong)
	require.Error(t, err)
	assert.Equal(t, `--run "no such conversation" matches no conversation in 2 test files: nothing would run`, err.Error())
	assert.NotContains(t, out, "demo agent", "nothing ran")

	out, err = runCLI(t, "test", "--run", "cancel|typo", "--skip", "typo", bundle, demo, wrong)
	require.NoError(t, err, "the typo conversation is left out: %s", out)
	assert.Contains(t, out, "cancel leaves the flow")
	assert.NotContains(t, out, "return with a typo")
	assert.Regexp(t, `0 conversations, 0 turns: 0 passed, 0 failed \(2 not run: --run/--skip\)\n$`, out)

	_, err = runCLI(t, "test", "--skip", ".", bundle, demo, wrong)
	require.Error(t, err)
	assert.Equal(t, `--skip "." matches no conversation in 2 test files: nothing would run`, err.Error())

	for _, flag := range []string{"--run", "--skip"} {
		out, err = runCLI(t, "test", flag, "(unclosed", filepath.Join(t.TempDir(), "no-bundle.yaml"), filepath.Join(t.TempDir(), "no-tests.yaml"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), flag+": error parsing regexp")
		assert.NotContains(t, out, "demo agent")
	}

	out, err = runCLI(t, "test", "--run", "(unclosed", filepath.Join(t.TempDir(), "no-bundle.yaml"), filepath.Join(t.TempDir(), "no-tests.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--run: error parsing regexp")
	assert.NotContains(t, out, "demo agent")
}

// --timeout bounds the whole run: one that cannot finish in time fails
// (exit non-zero), never passes on what it managed to play.
func TestTimeoutBoundsTheRun(t *testing.T) {
	bundle := filepath.Join(repo, "examples", "demo-agent.yaml")
	demo := filepath.Join(repo, "examples", "tests", "demo-agent.test.yaml")
	out, err := runCLI(t, "test", "--timeout", "1ns", bundle, demo)
	require.Error(t, err, "%s", out)
	assert.ErrorContains(t, err, "deadline exceeded")
}
