package chaos

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The outage cases at their reduced size (make chaos runs them in full):
// after a SIGKILL, an unreachable store, a hanging store, a SIGTERM with a
// short drain, and clients that stop reading, every keyed retry resolves
// within twice the takeover delay, no session stays locked past it, no
// committed turn is answered as failed, no message is committed twice, no
// stream ends without its last event, and stalled streams are cut at the
// write deadline with their turns recorded.
func TestOutagesLeaveNothingStuck(t *testing.T) {
	host := mongoHost(t)
	bin, err := BuildFocal(t.Context(), t.TempDir())
	require.NoError(t, err)
	logs := &logTail{}
	res, err := RunOutages(t.Context(), ReducedOutages(bin, StoreMongo, host, logs))
	out, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", out)
	require.NoError(t, err)
	for _, c := range res.Cases {
		if !c.Passed() {
			t.Errorf("%s: %+v", c.Name, c)
		}
	}
	if t.Failed() {
		t.Logf("service logs (tail):\n%s", logs.String())
	}
}
