package contract

import (
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A turn id names one turn record, across sessions and tenants (the
// service makes ids that never repeat): a commit whose id another turn
// holds is refused with SESSION_BUSY, as a SQL primary key refuses it. The
// refusal stores nothing and changes neither the turn that holds the id
// nor the committing session, and it does not spend the lease: a turn
// with an id of its own commits under it.
func testCommitRefusesATakenTurnID(t *testing.T, f *fixture) {
	tenant, elsewhere := newID(), newID()
	first := f.newSession(tenant, newID())
	taken := f.turns(tenant, first.ID, 1)[0]
	other := f.newSession(tenant, newID())
	f.turns(tenant, other.ID, 2)
	theirs := f.newSession(elsewhere, newID())

	for _, c := range []struct {
		what              string
		tenant, sessionID string
	}{
		{"an id of another session's turn", tenant, other.ID},
		{"an id of the session's own turn, under the next lease", tenant, first.ID},
		{"an id of another tenant's turn", elsewhere, theirs.ID},
	} {
		before := f.get(c.tenant, c.sessionID)
		l := f.lock(c.tenant, c.sessionID, longTTL)
		reused := nextTurn(before, "a reused id")
		reused.ID = taken.ID
		requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), reused), domain.CodeSessionBusy, c.what)

		requireSameState(t, before, f.get(c.tenant, c.sessionID), c.what+": the session")
		page, err := f.Turns.ListTurns(f.ctx, c.tenant, c.sessionID, ports.TurnQuery{})
		require.NoError(t, err)
		require.Len(t, page.Items, before.TurnCount, "%s: no turn added", c.what)
		got, err := f.Turns.GetTurn(f.ctx, tenant, taken.ID)
		require.NoError(t, err, c.what)
		require.Equal(t, first.ID, got.SessionID, "%s: the id stays its turn's", c.what)
		require.Equal(t, taken.Message, got.Message, c.what)
		requireSameState(t, taken.SessionAfter, got.SessionAfter, c.what+": the turn holding the id")

		own := nextTurn(before, "an id of its own")
		require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), own), "%s: the refusal left the lease", c.what)
		f.release(l)
		require.Equal(t, before.TurnCount+1, f.get(c.tenant, c.sessionID).TurnCount, c.what)
	}
}
