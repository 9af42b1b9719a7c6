package contract

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A turn record carries the session as that turn left it (replays start
// from it): every turn of a session reads it back as committed, by GetTurn
// and by ListTurns; the newest one, whose session was closed while it ran,
// closed, as the commit answered, and the turns before it active.
func testTurnsReadBackTheSessionTheyLeft(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	committed := f.turns(tenant, s.ID, 5)
	l := f.lock(tenant, s.ID, longTTL)
	last := nextTurn(f.get(tenant, s.ID), "closing soon")
	// Closed a second after the turn was built: its updated_at, which the
	// close moves, reads the same in the commit's answer as in the record.
	closedAt := last.SessionAfter.UpdatedAt.Add(time.Second)
	_, err := f.Sessions.CloseSession(f.ctx, tenant, s.ID, closedAt)
	require.NoError(t, err)
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), last))
	f.release(l)
	// The commit's answer is the session as stored: the close shows.
	require.Equal(t, domain.SessionClosed, last.SessionAfter.Status, "the commit's answer shows the close")
	requireSameTime(t, closedAt, last.SessionAfter.UpdatedAt, "the close moved updated_at")
	requireSameState(t, f.get(tenant, s.ID), last.SessionAfter, "the commit's answer")
	committed = append(committed, last)

	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Page: ports.PageRequest{Limit: ports.MaxPageSize}})
	require.NoError(t, err)
	require.Len(t, page.Items, len(committed))
	for i, turn := range committed {
		got, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
		require.NoError(t, err)
		requireSameState(t, turn.SessionAfter, got.SessionAfter, "GetTurn of turn %d", turn.TurnNumber)
		requireSameState(t, turn.SessionAfter, page.Items[i].SessionAfter, "ListTurns' turn %d", turn.TurnNumber)
	}
}

// requireSameState checks that got holds want's state: every part of a
// session a turn or a close can change.
func requireSameState(t *testing.T, want, got *domain.Session, what string, args ...any) {
	t.Helper()
	require.NotNil(t, got, append([]any{what + ": no session"}, args...)...)
	msg := func(part string) []any { return append([]any{what + ": " + part}, args...) }
	require.Equal(t, want.ID, got.ID, msg("id")...)
	require.Equal(t, want.TurnCount, got.TurnCount, msg("turn count")...)
	require.Equal(t, want.Version, got.Version, msg("version")...)
	require.Equal(t, want.Status, got.Status, msg("status")...)
	require.Equal(t, want.ClosedAt == nil, got.ClosedAt == nil, msg("closed_at set")...)
	if want.ClosedAt != nil {
		requireSameTime(t, *want.ClosedAt, *got.ClosedAt, "closed_at")
	}
	require.Equal(t, want.RuleFires, got.RuleFires, msg("rule fires")...)
	requireJSONEqual(t, want.Scenario, got.Scenario, msg("scenario")...)
	requireJSONEqual(t, want.FlowStack, got.FlowStack, msg("flow stack")...)
	requireJSONEqual(t, want.VisitHistory, got.VisitHistory, msg("visit history")...)
	requireJSONEqual(t, want.Variables, got.Variables, msg("variables")...)
	requireSameTime(t, want.LastActivityAt, got.LastActivityAt, "last_activity_at")
	requireSameTime(t, want.UpdatedAt, got.UpdatedAt, "updated_at")
}
