package alignment

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// The guards presenceOf recognises are answered without the VM: on many
// generated turns, turnGuardHolds must answer as the guard run by the VM
// over the variables gathered (the reference), for presence tests and for
// guards that only look like them.
func TestPresenceGuardsAnswerAsTheVM(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	names := []string{"order_id", "reason", "meta", "agent_name", "channel", "user_channel_id", "session_id", "turn_number", "x y", "missing"}
	str := "AC-123456"
	var nilStr *string
	values := []any{nil, "", "AC-123456", 0.0, 3.5, false, true, 0, []any(nil), []any{}, map[string]any(nil),
		map[string]any{}, nilStr, &str, &nilStr, func() {}, (func())(nil), (chan int)(nil), struct{}{}}
	shapes := []string{`vars.%s != nil`, `vars.%s == nil`, `vars[%q] != nil`, `vars[%q] == nil`, `nil != vars.%s`,
		`not (vars.%s == nil)`, `(vars.%s) != nil`, `vars?.%s != nil`, `vars.%s != nil && true`, `vars.%s == 1`,
		`meta.%s != nil`, `vars.%s?.a != nil`}
	cp, err := domain.CompilePolicy(testPolicy())
	require.NoError(t, err)
	x, err := newExpressions(limits)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	recognised := 0
	for i := range 5000 {
		name := names[rng.IntN(len(names))]
		shape := shapes[rng.IntN(len(shapes))]
		if name == "x y" && !strings.Contains(shape, "%q") {
			name = "missing_too" // only an index names it
		}
		src := fmt.Sprintf(shape, name)
		g, err := CompileWhen(src, limits)
		require.NoError(t, err, src)
		if g.presence != nil {
			recognised++
		}
		d := &decided{cp: cp, now: guardTurn}
		if rng.IntN(4) > 0 {
			d.coll.vars = map[string]any{}
			for range rng.IntN(4) {
				d.coll.vars[names[rng.IntN(len(names))]] = values[rng.IntN(len(values))]
			}
		}
		in := ports.TurnInput{Session: domain.NewSession("s-1", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, guardTurn),
			TurnNumber: 1 + rng.IntN(3)}
		if rng.IntN(3) == 0 {
			in.Metadata = map[string]any{"tier": "gold"}
		}
		var b builtinValues
		want := g.holdsOver(variables(&b, cp, in, in.Session, d.coll.vars), in.Metadata, guardTurn)
		require.Equal(t, want, x.turnGuardHolds(src, d, in), "turn %d: %s over %#v, meta %v", i, src, d.coll.vars, in.Metadata)
	}
	require.Greater(t, recognised, 1000, "the shapes should include many presence tests")
}
