package contract

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var sessionCases = []testCase{
	{"LockByChannelKey", testLockByChannelKey},
	{"LockByKeyBuildsTheNewSessionOnlyWhenCreating", testLockByKeyLazily},
	{"ConcurrentFirstMessagesCreateOne", testConcurrentFirstMessages},
	{"LeaseCarriesTheSessionAndHistory", testLeaseCarriesSession},
	{"GetSessionNotFound", testGetSessionNotFound},
	{"CloseSession", testCloseSession},
	{"DeleteSessionIsHard", testDeleteSession},
	{"ListSessions", testListSessions},
	{"ListSessionsTiesAndTurns", testListSessionsTiesAndTurns},
	{"TenantIsolation", testSessionTenantIsolation},
}

// findOrCreate takes and gives back the lease of the active session of
// k, as a first message by channel identity does.
func (f *fixture) findOrCreate(k domain.ChannelKey) (*domain.Session, bool) {
	f.t.Helper()
	l, err := f.Locker.LockSession(f.ctx, byKey(domain.NewSession(newID(), k, time.Now())))
	require.NoError(f.t, err)
	f.release(l)
	return l.Session(), l.Created()
}

func testLockByChannelKey(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	createdAt := time.Now().Add(-time.Minute)
	first := domain.NewSession(newID(), k, createdAt)
	l, err := f.Locker.LockSession(f.ctx, byKey(first))
	require.NoError(t, err)
	require.True(t, l.Created())
	require.Equal(t, first.ID, l.Session().ID)
	require.Equal(t, first.ID, l.Token().SessionID)
	require.Equal(t, 1, l.Token().TurnNumber, "a new session's lease is for turn 1")
	f.release(l)

	again, created := f.findOrCreate(k)
	require.False(t, created, "the key already has an active session")
	require.Equal(t, first.ID, again.ID)

	got := f.get(tenant, first.ID)
	require.Equal(t, tenant, got.TenantID)
	require.Equal(t, agent, got.AgentID)
	require.Equal(t, k.Channel, got.Channel)
	require.Equal(t, k.UserChannelID, got.UserChannelID)
	require.Equal(t, domain.SessionActive, got.Status)
	require.Zero(t, got.TurnCount)
	require.Equal(t, first.Version, got.Version)
	require.Nil(t, got.ClosedAt)
	requireSameTime(t, createdAt, got.CreatedAt, "created_at")
	require.Equal(t, first.Key(), again.Key())

	// Each part of the key tells sessions apart.
	variants := []domain.ChannelKey{k, k, k}
	variants[0].Channel = "sms"
	variants[1].UserChannelID += "-other"
	variants[2].AgentID = newID()
	for _, v := range variants {
		s, created := f.findOrCreate(v)
		require.True(t, created, "key %+v is a different key", v)
		require.NotEqual(t, first.ID, s.ID)
	}

	for name, req := range map[string]ports.LockRequest{
		"no tenant":              {Candidate: domain.NewSession(newID(), k, time.Now()), Wait: longWait, TTL: longTTL},
		"no session, no key":     {TenantID: tenant, Wait: longWait, TTL: longTTL},
		"a candidate without id": {TenantID: tenant, Candidate: domain.NewSession("", k, time.Now()), Wait: longWait, TTL: longTTL},
		"another tenant's key":   {TenantID: newID(), Candidate: domain.NewSession(newID(), k, time.Now()), Wait: longWait, TTL: longTTL},
	} {
		_, err := f.Locker.LockSession(f.ctx, req)
		requireCode(t, err, domain.CodeInvalidRequest, name)
	}
}

// Without a candidate, the store builds the key's new session from the
// request (the key, the opening time, an id from NewID) when it creates
// it, and a later lock by the key finds that session.
func testLockByKeyLazily(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	opened := time.Now().Add(-time.Minute)
	var ids []string
	req := ports.LockRequest{TenantID: tenant, Key: k, Opened: opened, Wait: longWait, TTL: longTTL,
		NewID: func() (string, error) { ids = append(ids, newID()); return ids[len(ids)-1], nil }}
	l, err := f.Locker.LockSession(f.ctx, req)
	require.NoError(t, err)
	require.True(t, l.Created())
	require.Len(t, ids, 1, "the new session's id is asked for once")
	require.Equal(t, ids[0], l.Token().SessionID)
	require.Equal(t, 1, l.Token().TurnNumber)
	f.release(l)
	want := domain.NewSession(ids[0], k, opened)
	got := f.get(tenant, ids[0])
	require.Equal(t, want.Key(), got.Key())
	require.Equal(t, domain.SessionActive, got.Status)
	require.Equal(t, want.Version, got.Version)
	require.Zero(t, got.TurnCount)
	require.Nil(t, got.ClosedAt)
	requireSameTime(t, opened, got.CreatedAt, "created_at")

	again, err := f.Locker.LockSession(f.ctx, req)
	require.NoError(t, err)
	require.False(t, again.Created())
	require.Equal(t, ids[0], again.Session().ID, "the key's session is found")
	if f.Features.LazySession {
		require.Len(t, ids, 1, "a returning user's lock asks for no id")
	}
	f.release(again)
	require.Equal(t, 1, again.Token().TurnNumber, "the found session has no turn yet")

	for name, bad := range map[string]ports.LockRequest{
		"no way to make an id": {TenantID: tenant, Key: key(tenant, newID()), Wait: longWait, TTL: longTTL},
		"another tenant's key": {TenantID: newID(), Key: k, NewID: req.NewID, Wait: longWait, TTL: longTTL},
		"an empty id": {TenantID: tenant, Key: key(tenant, newID()), Wait: longWait, TTL: longTTL,
			NewID: func() (string, error) { return "", nil }},
	} {
		_, err := f.Locker.LockSession(f.ctx, bad)
		requireCode(t, err, domain.CodeInvalidRequest, name)
	}
}

func testConcurrentFirstMessages(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	const callers = 20
	type outcome struct {
		session *domain.Session
		created bool
	}
	results := race(callers, func(int) (outcome, error) {
		req := byKey(domain.NewSession(newID(), k, time.Now()))
		req.Wait = 3 * longWait
		l, err := f.Locker.LockSession(f.ctx, req)
		if err != nil {
			return outcome{}, err
		}
		defer func() { _ = l.Release(f.ctx) }()
		return outcome{l.Session(), l.Created()}, nil
	})
	var createdIDs []string
	ids := map[string]bool{}
	for _, r := range results {
		require.NoError(t, r.err)
		ids[r.value.session.ID] = true
		if r.value.created {
			createdIDs = append(createdIDs, r.value.session.ID)
		}
	}
	require.Len(t, createdIDs, 1, "exactly one of %d concurrent callers creates", callers)
	require.Len(t, ids, 1, "every caller gets the same session")
	require.True(t, ids[createdIDs[0]])
	require.Equal(t, domain.SessionActive, f.get(tenant, createdIDs[0]).Status)

	page, err := f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{AgentID: agent})
	require.NoError(t, err)
	require.Len(t, page.Items, 1, "the losers left no session behind")
}

// The lease comes with the session as it stands under it, and its newest
// turns: the caller needs no other read before running the turn.
func testLeaseCarriesSession(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	s := f.sessionAt(k, time.Now())
	turns := f.turns(tenant, s.ID, 4)

	check := func(l ports.SessionLease, history int, how string) {
		t.Helper()
		defer f.release(l)
		requireJSONEqual(t, f.get(tenant, s.ID), l.Session(), how+": the session as committed")
		require.Equal(t, 5, l.Token().TurnNumber, how+": the lease is for the next turn")
		require.Equal(t, s.ID, l.Token().SessionID)
		require.NotZero(t, l.Token().Fence)
		require.False(t, l.Created(), how)
		want := []int{}
		for n := max(1, 5-history); n <= 4 && history > 0; n++ {
			want = append(want, n)
		}
		got := l.History()
		require.NotNil(t, got, how+": history is a list")
		require.Equal(t, want, historyNumbers(got), how+": the newest %d turns, oldest first", history)
		if len(got) > 0 {
			require.Equal(t, turns[3].History(), got[len(got)-1], how+": message, reply, status and step of each turn")
			got[len(got)-1].Message = "changed by the holder"
			require.Equal(t, "message 4", l.History()[len(got)-1].Message, how+": History returns a copy")
		}
		// Sessions are changed through their methods (copy-on-write).
		l.Session().SetVariable("last_message", "changed by the holder")
		require.Equal(t, "message 4", l.Session().Variables["last_message"], how+": Session returns a copy")
	}
	for _, history := range []int{0, 2, 10} {
		req := byID(tenant, s.ID, longWait, longTTL)
		req.History = history
		l, err := f.Locker.LockSession(f.ctx, req)
		require.NoError(t, err)
		check(l, history, "by id")
		req = byKey(domain.NewSession(newID(), k, time.Now()))
		req.History = history
		l, err = f.Locker.LockSession(f.ctx, req)
		require.NoError(t, err)
		check(l, history, "by channel key")
	}
}

func testGetSessionNotFound(t *testing.T, f *fixture) {
	_, err := f.Sessions.GetSession(f.ctx, newID(), newID())
	requireCode(t, err, domain.CodeSessionNotFound, "GetSession of an unknown id")
	_, err = f.Sessions.CloseSession(f.ctx, newID(), newID(), time.Now())
	requireCode(t, err, domain.CodeSessionNotFound, "CloseSession of an unknown id")
	requireCode(t, f.Sessions.DeleteSession(f.ctx, newID(), newID()), domain.CodeSessionNotFound, "DeleteSession of an unknown id")
}

func testCloseSession(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	s := f.sessionAt(k, time.Now())
	turns := f.turns(tenant, s.ID, 2)

	at := time.Now().Add(time.Second)
	closed, err := f.Sessions.CloseSession(f.ctx, tenant, s.ID, at)
	require.NoError(t, err)
	require.Equal(t, domain.SessionClosed, closed.Status)
	require.NotNil(t, closed.ClosedAt)
	requireSameTime(t, at, *closed.ClosedAt, "closed_at")
	require.Equal(t, s.Version+3, closed.Version, "two turns and the close each bump the version")
	require.Equal(t, 2, closed.TurnCount, "closing keeps the history")

	got := f.get(tenant, s.ID)
	require.Equal(t, domain.SessionClosed, got.Status)
	requireSameTime(t, at, *got.ClosedAt, "closed_at as read")
	require.Equal(t, closed.Version, got.Version)

	again, err := f.Sessions.CloseSession(f.ctx, tenant, s.ID, at.Add(time.Hour))
	require.NoError(t, err, "closing a closed session is a no-op")
	require.Equal(t, domain.SessionClosed, again.Status)
	requireSameTime(t, at, *again.ClosedAt, "the first close's time stays")
	require.Equal(t, closed.Version, again.Version, "a no-op close changes nothing")

	next, created := f.findOrCreate(k)
	require.True(t, created, "closing frees the channel key")
	require.NotEqual(t, s.ID, next.ID)
	require.Equal(t, domain.SessionActive, f.get(tenant, next.ID).Status)

	page, err := f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{Order: ports.OrderAsc})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, turnNumbers(page.Items), "a closed session's turns stay readable")
	_, err = f.Turns.GetTurn(f.ctx, tenant, turns[0].ID)
	require.NoError(t, err)
}

func testDeleteSession(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	k := key(tenant, agent)
	s := f.sessionAt(k, time.Now())
	kept := f.newSession(tenant, agent)
	turns := f.turns(tenant, s.ID, 3)
	keptTurns := f.turns(tenant, kept.ID, 1)

	require.NoError(t, f.Sessions.DeleteSession(f.ctx, tenant, s.ID))
	_, err := f.Sessions.GetSession(f.ctx, tenant, s.ID)
	requireCode(t, err, domain.CodeSessionNotFound, "GetSession after delete")
	for _, turn := range turns {
		_, err := f.Turns.GetTurn(f.ctx, tenant, turn.ID)
		requireCode(t, err, domain.CodeTurnNotFound, "a deleted session's turn")
	}
	_, err = f.Turns.ListTurns(f.ctx, tenant, s.ID, ports.TurnQuery{})
	requireCode(t, err, domain.CodeSessionNotFound, "ListTurns after delete")
	recent, err := f.Turns.RecentHistory(f.ctx, tenant, s.ID, 10)
	require.NoError(t, err, "RecentHistory of a deleted session is not an error")
	require.Empty(t, recent, "RecentHistory after delete")
	page, err := f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, kept.ID, page.Items[0].ID)
	requireCode(t, f.Sessions.DeleteSession(f.ctx, tenant, s.ID), domain.CodeSessionNotFound, "deleting twice")
	_, err = f.Sessions.CloseSession(f.ctx, tenant, s.ID, time.Now())
	requireCode(t, err, domain.CodeSessionNotFound, "closing a deleted session")

	next, created := f.findOrCreate(k)
	require.True(t, created, "deleting frees the channel key")
	require.NotEqual(t, s.ID, next.ID)

	// The other session of the tenant is untouched.
	require.Equal(t, 1, f.get(tenant, kept.ID).TurnCount)
	_, err = f.Turns.GetTurn(f.ctx, tenant, keptTurns[0].ID)
	require.NoError(t, err)
}

// listAll pages through a session listing and checks the paging rules.
func (f *fixture) listAll(tenant string, q ports.SessionQuery) []domain.Session {
	f.t.Helper()
	var all []domain.Session
	seen := map[string]bool{}
	for pageNo := 0; ; pageNo++ {
		require.Less(f.t, pageNo, 50, "paging must end")
		page, err := f.Sessions.ListSessions(f.ctx, tenant, q)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(page.Items), ports.PageLimit(q.Page.Limit))
		if pageNo > 0 {
			require.NotEmpty(f.t, page.Items, "no empty page after a cursor")
		}
		for _, s := range page.Items {
			require.False(f.t, seen[s.ID], "session %s on two pages", s.ID)
			seen[s.ID] = true
			all = append(all, s)
		}
		if page.NextCursor == "" {
			return all
		}
		q.Page.Cursor = page.NextCursor
	}
}

func sessionIDs(ss []domain.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func testListSessions(t *testing.T, f *fixture) {
	tenant, agentA, agentB := newID(), newID(), newID()
	base := time.Now().Add(-time.Hour)
	var aIDs, allIDs []string // oldest first
	for i := range 7 {
		agent := agentA
		if i%3 == 2 {
			agent = agentB
		}
		s := f.sessionAt(key(tenant, agent), base.Add(time.Duration(i)*time.Second))
		allIDs = append(allIDs, s.ID)
		if agent == agentA {
			aIDs = append(aIDs, s.ID)
		}
	}
	f.newSession(newID(), agentA) // another tenant's
	_, err := f.Sessions.CloseSession(f.ctx, tenant, aIDs[1], time.Now())
	require.NoError(t, err)
	newestFirst := func(ids []string) []string {
		out := slices.Clone(ids)
		slices.Reverse(out)
		return out
	}

	all := f.listAll(tenant, ports.SessionQuery{Page: ports.PageRequest{Limit: 3}})
	require.Equal(t, newestFirst(allIDs), sessionIDs(all), "every session once, newest first")
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].CreatedAt.After(all[i-1].CreatedAt), "newest first")
	}
	require.Equal(t, newestFirst(aIDs), sessionIDs(f.listAll(tenant, ports.SessionQuery{AgentID: agentA, Page: ports.PageRequest{Limit: 2}})))

	closed := f.listAll(tenant, ports.SessionQuery{Status: domain.SessionClosed})
	require.Equal(t, []string{aIDs[1]}, sessionIDs(closed))
	require.Equal(t, domain.SessionClosed, closed[0].Status)
	active := f.listAll(tenant, ports.SessionQuery{AgentID: agentA, Status: domain.SessionActive, Page: ports.PageRequest{Limit: 2}})
	wantActive := newestFirst(slices.Delete(slices.Clone(aIDs), 1, 2))
	require.Equal(t, wantActive, sessionIDs(active), "both filters, paged")

	page, err := f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{Page: ports.PageRequest{Limit: 2}})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.NotEmpty(t, page.NextCursor)
	whole, err := f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{})
	require.NoError(t, err)
	require.Len(t, whole.Items, 7, "limit 0 means the default page size")
	require.Empty(t, whole.NextCursor)

	_, err = f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{Page: ports.PageRequest{Cursor: "%%not-a-cursor%%"}})
	requireCode(t, err, domain.CodeInvalidRequest, "a bad cursor")
	none, err := f.Sessions.ListSessions(f.ctx, newID(), ports.SessionQuery{})
	require.NoError(t, err)
	require.NotNil(t, none.Items)
	require.Empty(t, none.Items)
	require.Empty(t, none.NextCursor)
}

func testListSessionsTiesAndTurns(t *testing.T, f *fixture) {
	tenant, agent := newID(), newID()
	at := time.Now().Truncate(time.Millisecond)
	var ids []string
	for range 4 {
		ids = append(ids, f.sessionAt(key(tenant, agent), at).ID)
	}
	listed := f.listAll(tenant, ports.SessionQuery{Page: ports.PageRequest{Limit: 1}})
	got := sessionIDs(listed)
	require.ElementsMatch(t, ids, got, "sessions created at the same instant are each listed once")

	f.turns(tenant, ids[2], 2)
	for _, s := range f.listAll(tenant, ports.SessionQuery{}) {
		want := 0
		if s.ID == ids[2] {
			want = 2
		}
		require.Equal(t, want, s.TurnCount, "listings reflect committed turns")
	}
}

func testSessionTenantIsolation(t *testing.T, f *fixture) {
	mine, theirs, agent := newID(), newID(), newID()
	k := key(mine, agent)
	s := f.sessionAt(k, time.Now())
	missing := newID()

	_, errOther := f.Sessions.GetSession(f.ctx, theirs, s.ID)
	_, errMissing := f.Sessions.GetSession(f.ctx, theirs, missing)
	requireCode(t, errOther, domain.CodeSessionNotFound, "GetSession across tenants")
	requireSameAsMissing(t, errOther, errMissing, "GetSession")

	_, errOther = f.Sessions.CloseSession(f.ctx, theirs, s.ID, time.Now())
	requireCode(t, errOther, domain.CodeSessionNotFound, "CloseSession across tenants")
	require.Equal(t, domain.SessionActive, f.get(mine, s.ID).Status, "their close did not close mine")

	requireCode(t, f.Sessions.DeleteSession(f.ctx, theirs, s.ID), domain.CodeSessionNotFound, "DeleteSession across tenants")
	f.get(mine, s.ID)

	page, err := f.Sessions.ListSessions(f.ctx, theirs, ports.SessionQuery{AgentID: agent})
	require.NoError(t, err)
	require.Empty(t, page.Items, "ListSessions across tenants")

	theirKey := k
	theirKey.TenantID = theirs
	other, created := f.findOrCreate(theirKey)
	require.True(t, created, "the same channel identity in another tenant is another key")
	require.NotEqual(t, s.ID, other.ID)
	require.Equal(t, theirs, other.TenantID)
	again, created := f.findOrCreate(k)
	require.False(t, created)
	require.Equal(t, s.ID, again.ID)
}
