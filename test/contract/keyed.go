package contract

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// At most one completed turn answers a keyed request, whatever its
// session and number; failed and interrupted turns do not count, and the
// request is scoped by tenant.
func testOneCompletedTurnPerKeyedRequest(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	request := newID()
	first := f.newSession(tenant, agent)
	second := f.newSession(tenant, agent)

	// A failed attempt carries the request without holding it.
	l := f.lock(tenant, first.ID, longTTL)
	failed := nextTurn(first, "hello")
	failed.Status, failed.ErrorCode, failed.KeyedRequest = domain.TurnFailed, domain.CodeLLMUnavailable, request
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), failed))
	f.release(l)

	l = f.lock(tenant, first.ID, longTTL)
	answer := nextTurn(f.get(tenant, first.ID), "hello")
	answer.KeyedRequest = request
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), answer))
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), answer), "a commit stays idempotent by turn id")
	f.release(l)

	for _, s := range []*domain.Session{second, first} {
		l := f.lock(tenant, s.ID, longTTL)
		again := nextTurn(f.get(tenant, s.ID), "hello")
		again.KeyedRequest = request
		err := f.Turns.CommitTurn(f.ctx, l.Token(), again)
		var answered *ports.AnsweredError
		require.True(t, errors.As(err, &answered), "a second completed turn of the request is refused, got %v", err)
		require.Equal(t, answer.ID, answered.TurnID, "the refusal names the turn that answered")
		requireCode(t, getErr(f, tenant, again.ID), domain.CodeTurnNotFound, "the refused turn is not stored")

		// The lease still commits another turn, and an interrupted turn of
		// the request commits too.
		interrupted := nextTurn(f.get(tenant, s.ID), "hello")
		interrupted.Status, interrupted.KeyedRequest = domain.TurnInterrupted, request
		require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), interrupted))
		f.release(l)
	}
	require.Equal(t, 3, f.get(tenant, first.ID).TurnCount)
	require.Equal(t, 1, f.get(tenant, second.ID).TurnCount)

	// Another tenant's request of the same name is another request. Its
	// name sorts after the first's, as does its turn: a lookup of the
	// answering turn that ignored the tenant would find the first's.
	other := tenant + "-other"
	s := f.newSession(other, agent)
	l = f.lock(other, s.ID, longTTL)
	theirs := nextTurn(s, "hello")
	theirs.KeyedRequest = request
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), theirs))
	f.release(l)
	l = f.lock(other, s.ID, longTTL)
	defer f.release(l)
	again := nextTurn(f.get(other, s.ID), "hello")
	again.KeyedRequest = request
	var answered *ports.AnsweredError
	require.True(t, errors.As(f.Turns.CommitTurn(f.ctx, l.Token(), again), &answered), "their second completed turn is refused")
	require.Equal(t, theirs.ID, answered.TurnID, "the refusal names the tenant's own turn, never another tenant's")
}

// Of completed turns of one keyed request committed at once in different
// sessions, exactly one is stored; the others are refused naming it.
func testConcurrentAnswersOfOneKeyedRequest(t *testing.T, f *fixture) {
	tenant, agent, request := newID(), newID(), newID()
	const n = 6
	leases := make([]ports.SessionLease, n)
	turns := make([]*domain.Turn, n)
	for i := range n {
		s := f.newSession(tenant, agent)
		leases[i] = f.lock(tenant, s.ID, longTTL)
		turns[i] = nextTurn(s, "hello")
		turns[i].KeyedRequest = request
	}
	results := race(n, func(i int) (struct{}, error) {
		return struct{}{}, f.Turns.CommitTurn(f.ctx, leases[i].Token(), turns[i])
	})
	winner := -1
	for i, r := range results {
		if r.err == nil {
			require.Equal(t, -1, winner, "two completed turns answered one request")
			winner = i
		}
	}
	require.NotEqual(t, -1, winner, "one of the commits is stored")
	for i, r := range results {
		if i == winner {
			continue
		}
		var answered *ports.AnsweredError
		require.True(t, errors.As(r.err, &answered), "commit %d: got %v", i, r.err)
		require.Equal(t, turns[winner].ID, answered.TurnID)
	}
	for _, l := range leases {
		f.release(l)
	}
}

func getErr(f *fixture, tenantID, turnID string) error {
	_, err := f.Turns.GetTurn(f.ctx, tenantID, turnID)
	return err
}
