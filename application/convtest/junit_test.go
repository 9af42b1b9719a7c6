package convtest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
)

// scriptedChat answers each message with its reply, or fails the turn
// with its error.
type scriptedChat map[string]struct {
	reply string
	err   error
}

func (s scriptedChat) Chat(_ context.Context, cmd application.ChatCommand) (*application.ChatResult, error) {
	a := s[cmd.Message]
	if a.err != nil {
		return nil, a.err
	}
	return &application.ChatResult{Response: a.reply, TurnID: "t-" + cmd.Message, MatchedRules: []string{}, ToolsCalled: []string{}}, nil
}

// What a CI system reads of the JUnit file, declared apart from the
// writer's types so that a renamed tag fails here.
type parsedJUnit struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		File     string `xml:"file,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// A passing and a failing conversation, a reply full of what XML must
// escape and a turn that fails with a control character XML 1.0 cannot
// hold: the JUnit parses back with the counts, the names, the first
// failure as the message and the turn's report lines as the text, the
// same lines the readable report prints. A conversation --run left out
// is neither in the JUnit nor counted as passed.
func TestJUnitParsesBackWithFailuresAndTheirReport(t *testing.T) {
	reply := "a <b> & \"c\" \x01 d"
	suite, err := Parse([]byte(`name: escapes
conversations:
  - name: passes
    turns: [{user: hello, expect: {reply: {contains: ["<b> &"]}}}]
  - name: fails on "quotes" & <angles>
    turns:
      - user: hello
        expect: {reply: {contains: ["<b> &"]}}
      - user: again
        expect: {reply: {equals: "x", contains: ["zzz"]}}
  - name: errors
    turns: [{user: broken}]
  - name: left out
    turns: [{user: hello}]
`))
	require.NoError(t, err)
	suite.File = "tests/escapes.test.yaml"
	chat := scriptedChat{"hello": {reply: reply}, "again": {reply: reply}, "broken": {err: errors.New("model said \x01 <no>")}}
	rep := Runner{Chat: chat, Select: Selection{Run: regexp.MustCompile("^(passes|fails|errors)")}}.Run(t.Context(), suite)

	var readable, junit bytes.Buffer
	require.NoError(t, rep.Write(&readable))
	assert.Contains(t, readable.String(), "  3 conversations, 4 turns: 2 passed, 2 failed (1 not run: --run/--skip)\n")
	require.NoError(t, WriteJUnit(&junit, []Report{rep}))
	assert.True(t, strings.HasPrefix(junit.String(), xml.Header), junit.String())
	assert.Contains(t, junit.String(), "&#34;again&#34;\n", "the failure text keeps its lines in the file")

	var got parsedJUnit
	require.NoError(t, xml.Unmarshal(junit.Bytes(), &got), junit.String())
	assert.Equal(t, 3, got.Tests)
	assert.Equal(t, 2, got.Failures)
	assert.Regexp(t, `^\d+\.\d{3}$`, got.Time)
	require.Len(t, got.Suites, 1)
	s := got.Suites[0]
	assert.Equal(t, []any{"escapes", "tests/escapes.test.yaml", 3, 2}, []any{s.Name, s.File, s.Tests, s.Failures})
	require.Len(t, s.Cases, 3, "the conversation --run left out is omitted")
	for i, name := range []string{"passes", `fails on "quotes" & <angles>`, "errors"} {
		assert.Equal(t, "escapes", s.Cases[i].Classname)
		assert.Equal(t, name, s.Cases[i].Name)
		assert.Nil(t, s.Cases[i].Skipped)
	}
	assert.Nil(t, s.Cases[0].Failure)

	failed := s.Cases[1].Failure
	require.NotNil(t, failed)
	assert.Equal(t, `reply: expected to equal "x", got "a <b> & \"c\" \x01 d"`, failed.Message, "the first failure of the first failing turn")
	for _, line := range []string{
		`    ok   1. "hello"`,
		`    FAIL 2. "again"`,
		`         reply: "a <b> & \"c\" \x01 d"`,
		`         ✗ reply: expected to equal "x", got "a <b> & \"c\" \x01 d"`,
		`         ✗ reply: expected to contain "zzz", got "a <b> & \"c\" \x01 d"`,
	} {
		assert.Contains(t, failed.Text, line+"\n")
	}
	assert.Contains(t, readable.String(), failed.Text, "the failure holds what the readable report shows")

	broken := s.Cases[2].Failure
	require.NotNil(t, broken)
	// XML 1.0 cannot hold \x01: encoding/xml writes U+FFFD in its place.
	assert.Equal(t, "the turn failed: model said \uFFFD <no>", broken.Message)
	assert.Contains(t, broken.Text, "✗ the turn failed: model said \uFFFD <no>")
}
