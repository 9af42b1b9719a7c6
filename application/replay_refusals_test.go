package application_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
	"focal/ports"
)

// A replay that cannot be what it asks for is refused before any turn is
// replayed: with the field at fault, or the session or agent not found.
// A session of another agent of the tenant is not replayed against this
// agent's policy.
func TestReplayRefusesWhatItCannotReplay(t *testing.T) {
	conv := converseOnModel(t, 0, 0, []string{"Hello"})
	const other = "9d3f6c1e-0000-4000-8000-000000000001"
	otherSession := conv.converseWith(t, other, "Hello")
	cases := []struct {
		name  string
		cmd   func(c *application.ReplayCommand)
		code  domain.ErrorCode
		field string
	}{
		{"a negative version", func(c *application.ReplayCommand) { c.Version = -1 }, domain.CodeInvalidRequest, "version"},
		{"a negative number of sessions", func(c *application.ReplayCommand) { c.SessionIDs, c.LastSessions = nil, -1 },
			domain.CodeInvalidRequest, "sessions.last"},
		{"a session id that is no UUID", func(c *application.ReplayCommand) { c.SessionIDs = []string{"last-one"} },
			domain.CodeInvalidRequest, "sessions.ids[0]"},
		{"another agent's session", func(c *application.ReplayCommand) { c.SessionIDs = []string{otherSession} },
			domain.CodeSessionNotFound, ""},
		{"a bundle of another agent", func(c *application.ReplayCommand) {
			c.Version, c.Bundle = 0, []byte("agent:\n  id: "+other+"\n  name: b\n")
		}, domain.CodeInvalidRequest, "bundle.agent.id"},
		{"a bundle for no agent", func(c *application.ReplayCommand) {
			c.AgentID, c.Version, c.Bundle, c.SessionIDs, c.LastSessions = "9d3f6c1e-0000-4000-8000-000000000002", 0,
				[]byte("agent:\n  name: b\n"), nil, 1
		}, domain.CodeAgentNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := application.ReplayCommand{TenantID: tenant, AgentID: conv.agent, Version: 1, SessionIDs: []string{conv.session}}
			c.cmd(&cmd)
			r, err := conv.replay.Run(context.Background(), cmd)
			require.Error(t, err, "replayed: %+v", r)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, c.code, de.Code, "%v", err)
			if c.field != "" {
				require.Len(t, de.Details, 1, "%v", err)
				assert.Equal(t, c.field, de.Details[0].Field)
			}
		})
	}
}

// cancellingEngine runs turns, and cancels the replay's context after
// turn after (returning the cancellation as its error when fail is set,
// as a model call cut short does).
type cancellingEngine struct {
	ports.Engine
	cancel context.CancelFunc
	after  int
	fail   bool
	ran    *[]int
}

func (e cancellingEngine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	*e.ran = append(*e.ran, in.TurnNumber)
	out, err := e.Engine.RunTurn(ctx, in, sink)
	if in.TurnNumber == e.after {
		e.cancel()
		if e.fail {
			return nil, ctx.Err()
		}
	}
	return out, err
}

// A replay whose context ends (its client left, its deadline passed)
// stops: no turn is replayed after it ended, and the replay answers with
// the context's error, not with a report of turns that "failed" (with the
// configured model each would be a model call nobody reads).
func TestACancelledReplayStops(t *testing.T) {
	conv := converseOnModel(t, 0, 0, []string{"Hello", "Socks?", "Shoes?"})
	for _, c := range []struct {
		name  string
		after int
		fail  bool
	}{
		{"between turns", 2, false},
		{"in the last turn", 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ran []int
			replay, err := application.NewReplay(conv.store, conv.store, conv.store, conv.store,
				func(history ports.TurnStore, tools ports.ToolInvoker, _ bool) (ports.Engine, error) {
					e, err := conv.engines(history, tools, false)
					return cancellingEngine{Engine: e, cancel: cancel, after: c.after, fail: c.fail, ran: &ran}, err
				})
			require.NoError(t, err)
			r, err := replay.Run(ctx, application.ReplayCommand{TenantID: tenant, AgentID: conv.agent, Version: 1,
				SessionIDs: []string{conv.session}})
			require.ErrorIs(t, err, context.Canceled, "report: %+v", r)
			assert.Equal(t, []int{1, 2, 3}[:c.after], ran, "turns replayed")
		})
	}
}
