package convtest

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// A file's stand-ins are in force for every conversation, a
// conversation's over them; WithStandIns lists the selected conversations
// that have any, which a run against a deployment must refuse.
func TestStandInsInForce(t *testing.T) {
	suite, err := Parse([]byte(`name: stand-ins
conversations:
  - name: plain
    turns: [{user: hello}]
  - name: own lookup
    tools: {order_lookup: {status: 503}}
    turns: [{user: hello}]
`))
	require.NoError(t, err)
	names := func(cs []Conversation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	assert.Equal(t, []string{"own lookup"}, names(suite.WithStandIns(Selection{})))
	assert.Empty(t, suite.WithStandIns(Selection{Run: regexp.MustCompile("plain")}), "--run left it out")
	assert.Equal(t, map[string]ToolStub{}, suite.InForce(suite.Conversations[0]))

	suite.Tools = map[string]ToolStub{"order_lookup": {Variables: map[string]any{"item_name": "coat"}}, "crm": {Status: 500}}
	assert.Equal(t, []string{"plain", "own lookup"}, names(suite.WithStandIns(Selection{})), "the file's are in force for all")
	assert.Equal(t, map[string]ToolStub{"order_lookup": {Status: 503}, "crm": {Status: 500}}, suite.InForce(suite.Conversations[1]))
	assert.Len(t, suite.Tools, 2, "the file's stand-ins are left as they were")
	assert.Equal(t, 0, suite.Tools["order_lookup"].Status)
}

// failingRecords cannot read any turn record.
type failingRecords struct{ err error }

func (f failingRecords) Turn(context.Context, string, string) (*domain.Turn, error) {
	return nil, f.err
}

// An expectation of the turn record fails with why the record could not
// be read: over the API that may be the caller's to fix.
func TestAnUnreadableRecordFailsWithWhy(t *testing.T) {
	suite, err := Parse([]byte(`name: records
conversations:
  - name: one
    turns: [{user: hello, expect: {variables: {order_id: AC-123456}}}]
`))
	require.NoError(t, err)
	rep := Runner{Chat: scriptedChat{"hello": {reply: "hi"}}, Turns: failingRecords{errors.New("FORBIDDEN (HTTP 403): no")}}.Run(t.Context(), suite)
	require.Len(t, rep.Conversations, 1)
	assert.Equal(t, []string{"variables: the turn record could not be read: FORBIDDEN (HTTP 403): no"}, rep.Conversations[0].Turns[0].Failures)
}
