package contract

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var turnCases = []testCase{
	{"CommitMakesStateVisible", testCommitMakesStateVisible},
	{"CommitRefusesTakenAndSkippedNumbers", testCommitRefusesWrongNumbers},
	{"CommitToUnknownSession", testCommitUnknownSession},
	{"CommitNeedsTheLeaseOfItsTurn", testCommitNeedsTheLease},
	{"CommitIsIdempotentByTurnID", testCommitIdempotent},
	{"CommitRefusesATakenTurnID", testCommitRefusesATakenTurnID},
	{"CommitRefusesIncompleteTurns", testCommitIncompleteTurn},
	{"StoreKeepsItsOwnCopies", testTurnCopies},
	{"ConcurrentCommitsOfOneNumber", testConcurrentCommits},
	{"ConcurrentTurnsUnderTheLeaseLoseNothing", testSerializedTurns},
	{"CloseDuringTurnSurvivesCommit", testCloseDuringTurn},
	{"DeleteDuringTurnLeavesNothing", testDeleteDuringTurn},
	{"ListTurns", testListTurns},
	{"TurnsReadBackTheSessionTheyLeft", testTurnsReadBackTheSessionTheyLeft},
	{"RecentHistory", testRecentHistory},
	{"TenantIsolation", testTurnTenantIsolation},
	{"OneCompletedTurnPerKeyedRequest", testOneCompletedTurnPerKeyedRequest},
	{"ConcurrentAnswersOfOneKeyedRequest", testConcurrentAnswersOfOneKeyedRequest},
}

func testCommitMakesStateVisible(t *testing.T, f *fixture) {
	tenant := newID()
	k := key(tenant, newID())
	s := f.sessionAt(k, time.Now())
	l := f.lock(tenant, s.ID, longTTL)
	turn := nextTurn(f.get(tenant, s.ID), "hello there")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn))
	f.release(l)

	requireTurnStored(t, f, turn, s)
	requireSessionState(t, f, s, turn.SessionAfter, 1)
	require.Equal(t, domain.RuleFire{Count: 1, LastTurn: 1}, f.get(tenant, s.ID).RuleFires.Get("rule-greet"))

	next := f.lock(tenant, s.ID, longTTL)
	second := nextTurn(next.Session(), "and again")
	require.NoError(t, f.Turns.CommitTurn(f.ctx, next.Token(), second))
	f.release(next)
	requireSessionState(t, f, s, second.SessionAfter, 2)
	st := f.get(tenant, s.ID)
	require.Equal(t, domain.RuleFire{Count: 2, LastTurn: 2}, st.RuleFires.Get("rule-greet"))
	require.Equal(t, domain.RuleFire{Count: 1, LastTurn: 2}, st.RuleFires.Get("rule-even"))
	require.Equal(t, "step-2", st.Scenario.StepID)
	require.Equal(t, "and again", st.Variables["last_message"])

	st.SetVariable("last_message", "changed by the reader")
	st.RecordFire("rule-greet", 3)
	st.EnterStep("returns", "changed", 3)
	again := f.get(tenant, s.ID)
	require.Equal(t, "and again", again.Variables["last_message"], "a read returns a copy")
	require.Equal(t, domain.RuleFire{Count: 2, LastTurn: 2}, again.RuleFires.Get("rule-greet"), "a read returns a copy")
	require.Equal(t, "step-2", again.Scenario.StepID, "a read returns a copy")
	found, created := f.findOrCreate(k)
	require.False(t, created)
	require.Equal(t, 2, found.TurnCount, "the lease by channel key carries the session as committed")
	require.Equal(t, "and again", found.Variables["last_message"])
}

// requireTurnStored reads the first turn of session s back and checks
// every field the commit wrote.
func requireTurnStored(t *testing.T, f *fixture, turn *domain.Turn, s *domain.Session) {
	t.Helper()
	got, err := f.Turns.GetTurn(f.ctx, s.TenantID, turn.ID)
	require.NoError(t, err)
	require.Equal(t, turn.ID, got.ID)
	require.Equal(t, s.ID, got.SessionID)
	require.Equal(t, s.TenantID, got.TenantID)
	require.Equal(t, 1, got.TurnNumber)
	require.Equal(t, turn.Message, got.Message)
	require.Equal(t, turn.Response, got.Response)
	require.Equal(t, domain.TurnCompleted, got.Status)
	require.Equal(t, turn.Deltas, got.Deltas)
	require.Equal(t, turn.Usage, got.Usage)
	require.Equal(t, turn.LatencyMS, got.LatencyMS)
	requireJSONEqual(t, turn.Metadata, got.Metadata, "metadata")
	requireJSONEqual(t, turn.Explanation, got.Explanation, "explanation")
	requireSameTime(t, turn.CreatedAt, got.CreatedAt, "turn created_at")
	require.NotNil(t, got.SessionAfter, "the record carries the session after the turn")
	require.Equal(t, 1, got.SessionAfter.TurnCount)
}

// requireSessionState checks that session s, as stored after turns
// commits, holds want's state: every part a turn can change.
func requireSessionState(t *testing.T, f *fixture, s, want *domain.Session, turns int) {
	t.Helper()
	st := f.get(s.TenantID, s.ID)
	require.Equal(t, turns, st.TurnCount)
	require.Equal(t, s.Version+int64(turns), st.Version, "every turn bumps the version")
	require.Equal(t, domain.SessionActive, st.Status)
	require.Equal(t, want.RuleFires, st.RuleFires)
	requireJSONEqual(t, want.Scenario, st.Scenario, "scenario")
	requireJSONEqual(t, want.FlowStack, st.FlowStack, "flow stack")
	requireJSONEqual(t, want.VisitHistory, st.VisitHistory, "visit history")
	requireJSONEqual(t, want.Variables, st.Variables, "variables")
	requireSameTime(t, want.LastActivityAt, st.LastActivityAt, "last_activity_at")
	requireSameTime(t, s.CreatedAt, st.CreatedAt, "created_at")
}

func testCommitRefusesWrongNumbers(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	before := f.get(tenant, s.ID)
	f.commitNext(l, tenant, s.ID, "one")

	taken := nextTurn(before, "a second turn 1")
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), taken), domain.CodeSessionBusy, "turn 1 is taken")
	second := nextTurn(f.get(tenant, s.ID), "a second turn under one lease")
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), second), domain.CodeSessionBusy, "one lease commits one turn")
	f.release(l)
	l = f.lock(tenant, s.ID, longTTL)
	skipped := nextTurn(f.get(tenant, s.ID), "turn 3 too early")
	skipped.TurnNumber, skipped.SessionAfter.TurnCount = 3, 3
	requireCode(t, f.Turns.CommitTurn(f.ctx, l.Token(), skipped), domain.CodeSessionBusy, "turn 3 after turn 1")
	early := l.Token()
	early.TurnNumber = 3
	requireCode(t, f.Turns.CommitTurn(f.ctx, early, skipped), domain.CodeSessionBusy, "turn 3 after turn 1, its token numbered 3 too")
	for _, refused := range []*domain.Turn{taken, second, skipped} {
		_, err := f.Turns.GetTurn(f.ctx, tenant, refused.ID)
		requireCode(t, err, domain.CodeTurnNotFound, "a refused commit stores nothing")
	}
	st := f.get(tenant, s.ID)
	require.Equal(t, 1, st.TurnCount)
	require.Equal(t, "one", st.Variables["last_message"], "a refused commit changes no state")
	f.commitNext(l, tenant, s.ID, "two")
	f.release(l)
	require.Equal(t, 2, f.get(tenant, s.ID).TurnCount)
}

func testCommitUnknownSession(t *testing.T, f *fixture) {
	tenant := newID()
	ghost := domain.NewSession(newID(), key(tenant, newID()), time.Now())
	turn := nextTurn(ghost, "anyone there?")
	err := f.Turns.CommitTurn(f.ctx, ports.LeaseToken{SessionID: ghost.ID, TurnNumber: 1, Fence: 1}, turn)
	requireCode(t, err, domain.CodeSessionNotFound, "a commit to an unknown session")
	_, err = f.Turns.GetTurn(f.ctx, tenant, turn.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "nothing stored")
}

func testConcurrentCommits(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	l := f.lock(tenant, s.ID, longTTL)
	base := f.get(tenant, s.ID)
	const writers = 10
	results := race(writers, func(i int) (*domain.Turn, error) {
		turn := nextTurn(base, fmt.Sprintf("writer %d", i))
		return turn, f.Turns.CommitTurn(f.ctx, l.Token(), turn)
	})
	var winners []*domain.Turn
	for _, r := range results {
		if r.err == nil {
			winners = append(winners, r.value)
			continue
		}
		requireCode(t, r.err, domain.CodeSessionBusy, "a losing commit")
		_, err := f.Turns.GetTurn(f.ctx, tenant, r.value.ID)
		requireCode(t, err, domain.CodeTurnNotFound, "a losing commit stores nothing")
	}
	require.Len(t, winners, 1, "exactly one of %d concurrent commits of turn 1 succeeds", writers)
	st := f.get(tenant, s.ID)
	require.Equal(t, 1, st.TurnCount)
	require.Equal(t, winners[0].Message, st.Variables["last_message"], "the state is the winner's")
	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Order: ports.OrderAsc})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, winners[0].ID, page.Items[0].ID)

	f.release(l)
	next := f.lock(tenant, s.ID, longTTL)
	defer f.release(next)
	f.commitNext(next, tenant, s.ID, "after the race")
	require.Equal(t, 2, f.get(tenant, s.ID).TurnCount, "the session is not stuck")
}

func testSerializedTurns(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	ids := make([]string, workers)
	for i := range workers {
		wg.Go(func() {
			l, err := f.Locker.LockSession(f.ctx, byID(tenant, s.ID, 3*longWait, longTTL))
			if err != nil {
				errs[i] = fmt.Errorf("lock: %w", err)
				return
			}
			defer func() { _ = l.Release(f.ctx) }()
			// The session as the lease carries it: no other read.
			turn := nextTurn(l.Session(), fmt.Sprintf("worker %d", i))
			ids[i] = turn.ID
			errs[i] = f.Turns.CommitTurn(f.ctx, l.Token(), turn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "worker %d", i)
	}
	require.Equal(t, workers, f.get(tenant, s.ID).TurnCount, "no update lost")
	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Order: ports.OrderAsc})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, turnNumbers(page.Items))
	for _, id := range ids {
		_, err := f.Turns.GetTurn(f.ctx, tenant, id)
		require.NoError(t, err, "every turn has its record")
	}
}

func testCloseDuringTurn(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	s := f.sessionAt(k, time.Now())
	l := f.lock(tenant, s.ID, longTTL)
	defer f.release(l)
	turn := nextTurn(f.get(tenant, s.ID), "closing soon")
	at := time.Now()
	_, err := f.Sessions.CloseSession(f.ctx, tenant, s.ID, at)
	require.NoError(t, err)

	require.NoError(t, f.Turns.CommitTurn(f.ctx, l.Token(), turn), "a turn that started before the close is recorded")
	st := f.get(tenant, s.ID)
	require.Equal(t, domain.SessionClosed, st.Status, "the close survives the commit")
	require.NotNil(t, st.ClosedAt)
	requireSameTime(t, at, *st.ClosedAt, "closed_at")
	require.Equal(t, 1, st.TurnCount)
	require.Equal(t, "closing soon", st.Variables["last_message"])
	require.Equal(t, s.Version+2, st.Version, "the turn and the close")

	_, created := f.findOrCreate(k)
	require.True(t, created, "the key stays free after the commit")
}

// pageTurns pages through a session's turns and checks the paging rules.
func (f *fixture) pageTurns(tenant, sessionID string, order ports.TurnOrder, limit int) [][]int {
	f.t.Helper()
	var pages [][]int
	q := ports.TurnQuery{Order: order, Page: ports.PageRequest{Limit: limit}}
	for {
		require.Less(f.t, len(pages), 20, "paging must end")
		page, err := f.Turns.ListTurns(f.ctx, tenant, sessionID, q)
		require.NoError(f.t, err)
		require.NotNil(f.t, page.Items)
		pages = append(pages, turnNumbers(page.Items))
		if page.NextCursor == "" {
			return pages
		}
		q.Page.Cursor = page.NextCursor
	}
}

func testListTurns(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	require.Equal(t, [][]int{{}}, f.pageTurns(tenant, s.ID, ports.OrderAsc, 2), "a session without turns")
	f.turns(tenant, s.ID, 5)

	require.Equal(t, [][]int{{1, 2}, {3, 4}, {5}}, f.pageTurns(tenant, s.ID, ports.OrderAsc, 2))
	require.Equal(t, [][]int{{5, 4}, {3, 2}, {1}}, f.pageTurns(tenant, s.ID, ports.OrderDesc, 2), "desc is newest first")
	require.Equal(t, [][]int{{5, 4, 3, 2, 1}}, f.pageTurns(tenant, s.ID, ports.OrderDesc, 0), "limit 0 means the default page size")
	require.Equal(t, [][]int{{1, 2, 3, 4}, {5}}, f.pageTurns(tenant, s.ID, ports.OrderAsc, 4))
	require.Equal(t, [][]int{{1, 2, 3, 4, 5}}, f.pageTurns(tenant, s.ID, ports.OrderAsc, 5), "no empty last page")

	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Order: ports.OrderDesc, Page: ports.PageRequest{Limit: 1}})
	require.NoError(t, err)
	require.Equal(t, "message 5", page.Items[0].Message, "the newest turn comes first")

	for _, order := range []ports.TurnOrder{ports.OrderAsc, ports.OrderDesc} {
		_, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Order: order, Page: ports.PageRequest{Cursor: "%%not-a-cursor%%"}})
		requireCode(t, err, domain.CodeInvalidRequest, "a bad cursor, order "+string(order))
	}
	_, err = f.Turns.ListTurns(f.ctx, tenant, newID(), ports.TurnQuery{})
	requireCode(t, err, domain.CodeSessionNotFound, "ListTurns of an unknown session")
}

func testRecentHistory(t *testing.T, f *fixture) {
	tenant := newID()
	s := f.newSession(tenant, newID())
	recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 3)
	require.NoError(t, err)
	require.Empty(t, recent, "a session without turns")
	turns := f.turns(tenant, s.ID, 5)

	for _, tc := range []struct {
		n    int
		want []int
	}{{3, []int{3, 4, 5}}, {1, []int{5}}, {5, []int{1, 2, 3, 4, 5}}, {50, []int{1, 2, 3, 4, 5}}, {0, []int{}}, {-1, []int{}}} {
		recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, tc.n)
		require.NoError(t, err)
		require.NotNil(t, recent, "an empty list, not nil")
		require.Equal(t, tc.want, historyNumbers(recent), "the newest %d turns, oldest first", tc.n)
	}
	missing, err := f.Turns.RecentHistory(f.ctx, tenant, newID(), 3)
	require.NoError(t, err, "RecentHistory of a missing session is not an error")
	require.NotNil(t, missing)
	require.Empty(t, missing, "RecentHistory of a missing session")
	recent, err = f.Turns.RecentHistory(f.ctx, tenant, s.ID, 2)
	require.NoError(t, err)
	require.Equal(t, turns[3].History(), recent[0], "message, reply, status and scenario step of each turn")
	require.Equal(t, turns[4].History(), recent[1])
	require.Equal(t, domain.ScenarioRef{ID: "returns", Step: "step-5"}, recent[1].Scenario)
}

func historyNumbers(h []domain.HistoryEntry) []int {
	out := make([]int, len(h))
	for i, e := range h {
		out[i] = e.TurnNumber
	}
	return out
}

func testTurnTenantIsolation(t *testing.T, f *fixture) {
	mine, theirs := newID(), newID()
	s := f.newSession(mine, newID())
	turns := f.turns(mine, s.ID, 2)
	missing := newID()

	_, err := f.Turns.GetTurn(f.ctx, theirs, turns[0].ID)
	requireCode(t, err, domain.CodeTurnNotFound, "GetTurn across tenants")

	_, errOther := f.Turns.ListTurns(f.ctx, theirs, s.ID, ports.TurnQuery{})
	requireCode(t, errOther, domain.CodeSessionNotFound, "ListTurns across tenants")

	recentOther, errOther := f.Turns.RecentHistory(f.ctx, theirs, s.ID, 10)
	recentMissing, errMissing := f.Turns.RecentHistory(f.ctx, theirs, missing, 10)
	require.NoError(t, errOther, "RecentHistory across tenants")
	require.NoError(t, errMissing, "RecentHistory of a missing session")
	require.Empty(t, recentOther, "RecentHistory across tenants")
	require.Empty(t, recentMissing)

	l := f.lock(mine, s.ID, longTTL)
	defer f.release(l)
	intruder := nextTurn(f.get(mine, s.ID), "not yours")
	intruder.TenantID = theirs
	intruder.SessionAfter.TenantID = theirs
	errOther = f.Turns.CommitTurn(f.ctx, l.Token(), intruder)
	ghost := nextTurn(domain.NewSession(missing, key(theirs, newID()), time.Now()), "nobody")
	errMissing = f.Turns.CommitTurn(f.ctx, ports.LeaseToken{SessionID: missing, Fence: l.Token().Fence}, ghost)
	require.Error(t, errOther, "CommitTurn into another tenant's session")
	requireSameAsMissing(t, errOther, errMissing, "CommitTurn")
	_, err = f.Turns.GetTurn(f.ctx, theirs, intruder.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the refused commit stored nothing")
	_, err = f.Turns.GetTurn(f.ctx, mine, intruder.ID)
	requireCode(t, err, domain.CodeTurnNotFound, "the refused commit stored nothing")
	st := f.get(mine, s.ID)
	require.Equal(t, 2, st.TurnCount)
	require.Equal(t, "message 2", st.Variables["last_message"])
}
