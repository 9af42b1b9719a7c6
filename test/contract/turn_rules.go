package contract

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Turn store rules beyond committing and reading: the lease a commit
// needs, retried commits, refusing incomplete turns, and keeping copies.

func testCommitNeedsTheLease(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	turn := nextTurn(f.get(tenant, s.ID), "no lease")
	requireCode(t, f.Turns.CommitTurn(f.ctx, ports.LeaseToken{}, turn), domain.CodeInvalidRequest, "a commit without a lease")
	requireCode(t, f.Turns.CommitTurn(f.ctx, ports.LeaseToken{SessionID: s.ID, TurnNumber: 1}, turn), domain.CodeInvalidRequest,
		"a token without a fence is no lease")

	holder := f.lock(tenant, s.ID, longTTL)
	defer f.release(holder)
	forged := holder.Token()
	forged.Fence++
	requireCode(t, f.Turns.CommitTurn(f.ctx, forged, turn), domain.CodeSessionBusy, "a fence the session's lease does not have")
	other := f.newSession(tenant, newID())
	elsewhere := nextTurn(f.get(tenant, other.ID), "another session's turn")
	requireCode(t, f.Turns.CommitTurn(f.ctx, holder.Token(), elsewhere), domain.CodeSessionBusy, "a lease of another session")
	for _, refused := range []*domain.Turn{turn, elsewhere} {
		_, err := f.Turns.GetTurn(f.ctx, tenant, refused.ID)
		requireCode(t, err, domain.CodeTurnNotFound, "a refused commit stores nothing")
	}
	require.NoError(t, f.Turns.CommitTurn(f.ctx, holder.Token(), turn), "the holder commits")
	require.Equal(t, 1, f.get(tenant, s.ID).TurnCount)
}

// A commit whose answer was lost may be sent again: the turn it stored is
// found by its id, and nothing is stored twice, even once the lease has
// moved on.
func testCommitIdempotent(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	turn := nextTurn(l.Session(), "sent twice")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn))
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn), "the same turn again")
	f.release(l)
	next := f.lock(tenant, s.ID, longTTL)
	defer f.release(next)
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn), "the same turn again, after the lease moved on")
	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "stored once")
	require.Equal(t, 1, f.get(tenant, s.ID).TurnCount)

	impostor := nextTurn(f.get(tenant, s.ID), "another turn under an old id")
	impostor.ID, impostor.TurnNumber = turn.ID, 2
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), impostor), domain.CodeSessionBusy, "an id is not a pass for another number")
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

// A committed turn is handed over to the store (CommitTurn), but what a read
// returns is the caller's own: changing it changes nothing stored.
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
		require.Equal(t, 1, st.RuleFires.Get("rule-greet").Count, what)
	}
	mutate := func(x *domain.Turn) {
		x.Message = "changed"
		x.Metadata["order"] = "changed"
		x.Deltas[0] = "changed"
		x.Timings[0].Step = "changed"
		x.Explanation.Candidates[0].RuleID = "changed"
		x.Explanation.Scenario.After.Step = "changed"
		// Sessions are changed through their methods (copy-on-write).
		x.SessionAfter.SetVariable("last_message", "changed")
		x.SessionAfter.RecordFire("rule-greet", 99)
		x.SessionAfter.EnterStep("returns", "changed", 99)
	}
	got, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
	require.NoError(t, err)
	mutate(got)
	requireUnchanged("the caller changed a turn GetTurn returned")
	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{})
	require.NoError(t, err)
	mutate(&page.Items[0])
	requireUnchanged("the caller changed a turn ListTurns returned")
	recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 5)
	require.NoError(t, err)
	recent[0].Message, recent[0].Scenario.Step = "changed", "changed"
	requireUnchanged("the caller changed an entry RecentHistory returned")
	again, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 5)
	require.NoError(t, err)
	require.Equal(t, "keep me", again[0].Message, "the caller changed an entry RecentHistory returned")
}

// A hard delete racing a turn in flight leaves nothing of the session,
// whichever goes first: the delete may wait for the turn (whose commit
// then succeeds and is deleted with the rest) or go ahead (the commit is
// then refused). Either way no turn outlives its session.
func testDeleteDuringTurn(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	turn := nextTurn(f.get(tenant, s.ID), "deleted soon")
	deleted := make(chan error, 1)
	go func() { deleted <- f.Sessions.DeleteSession(f.ctx, tenant, s.ID) }()
	time.Sleep(100 * time.Millisecond)

	if err := f.Turns.CommitTurn(f.ctx, l.Token(), turn); err != nil {
		require.True(t, domain.IsCode(err, domain.CodeSessionNotFound) || domain.IsCode(err, domain.CodeSessionBusy),
			"a commit racing a delete succeeds or is refused, got %v", err)
	}
	f.release(l)
	require.NoError(t, receive(t, deleted, handoff, "the delete once the turn released its lease"))

	_, err := f.Sessions.GetSession(f.ctx, tenant, s.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "GetSession after the delete")
	_, err = f.Turns.GetTurn(f.ctx, tenant, turn.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the turn of the racing commit")
	recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 10)
	require.NoError(t, err)
	require.Empty(t, recent, "no turn outlives its session")
	_, err = f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 0, longTTL))
	requireCode(t, err, domain.CodeSessionNotFound, "LockSession after the delete")
	late := nextTurn(s, "too late")
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), late), domain.CodeSessionNotFound, "a commit after the delete")
}
