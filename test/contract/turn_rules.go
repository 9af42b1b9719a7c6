package contract

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Turn store rules beyond committing and reading: committing without a
// lease, refusing incomplete turns, and keeping copies.

func testCommitWithoutLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	first := nextTurn(f.get(tenant, s.ID), "a migration")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, ports.LeaseToken{}, first), "fence 0 commits without any lease")

	holder := f.lock(tenant, s.ID, longTTL)
	defer f.release(holder)
	second := nextTurn(f.get(tenant, s.ID), "a test tool")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, ports.LeaseToken{SessionID: s.ID}, second),
		"fence 0 skips the fencing check even while someone holds the lease")
	stale := nextTurn(f.get(tenant, s.ID), "a stale number")
	stale.TurnNumber = 2
	requireCode(t, f.Turns.CommitTurn(f.ctx, ports.LeaseToken{}, stale), domain.CodeSessionBusy, "the number rule still applies")
	require.Equal(t, 2, f.get(tenant, s.ID).TurnCount)
	f.commitNext(holder, tenant, s.ID, "the holder goes on")
	require.Equal(t, 3, f.get(tenant, s.ID).TurnCount)
}

func testCommitIncompleteTurn(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	defer f.release(l)
	noState := nextTurn(f.get(tenant, s.ID), "no state")
	noState.SessionAfter = nil
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), noState), domain.CodeInvalidRequest, "a turn without SessionAfter")
	noID := nextTurn(f.get(tenant, s.ID), "no id")
	noID.ID = ""
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), noID), domain.CodeInvalidRequest, "a turn without an id")
	zero := nextTurn(f.get(tenant, s.ID), "turn zero")
	zero.TurnNumber = 0
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), zero), domain.CodeInvalidRequest, "turn number 0")
	require.Zero(t, f.get(tenant, s.ID).TurnCount, "nothing stored")
	f.commitNext(l, tenant, s.ID, "a whole turn")
}

func testTurnCopies(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	defer f.release(l)
	turn := nextTurn(f.get(tenant, s.ID), "keep me")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn))
	want, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
	require.NoError(t, err)
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	requireUnchanged := func(what string) {
		t.Helper()
		got, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
		require.NoError(t, err)
		requireJSONEqual(t, json.RawMessage(wantJSON), got, what)
		st := f.get(tenant, s.ID)
		require.Equal(t, "keep me", st.Variables["last_message"], what)
		require.Equal(t, 1, st.RuleFires["rule-greet"].Count, what)
	}
	mutate := func(x *domain.Turn) {
		x.Message = "changed"
		x.Metadata["order"] = "changed"
		x.Deltas[0] = "changed"
		x.Timings[0].Step = "changed"
		x.Explanation.Candidates[0].RuleID = "changed"
		x.Explanation.Scenario.After.Step = "changed"
		x.SessionAfter.Variables["last_message"] = "changed"
		x.SessionAfter.Variables["profile"].(map[string]any)["tier"] = "changed"
		x.SessionAfter.RuleFires["rule-greet"] = domain.RuleFire{Count: 99}
	}
	mutate(turn)
	requireUnchanged("the caller changed the turn it committed")
	got, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
	require.NoError(t, err)
	mutate(got)
	requireUnchanged("the caller changed a turn GetTurn returned")
	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{})
	require.NoError(t, err)
	mutate(&page.Items[0])
	requireUnchanged("the caller changed a turn ListTurns returned")
	recent, err := f.Turns.RecentTurns(f.ctx, tenant, s.ID, 5)
	require.NoError(t, err)
	mutate(&recent[0])
	requireUnchanged("the caller changed a turn RecentTurns returned")
}
