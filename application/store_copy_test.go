package application_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/adapters/sqlite"
	"focal/application"
	"focal/domain"
	"focal/ports"
)

// memorySide is a memory store as the copy's source.
func memorySide() application.StoreSide {
	s := memory.New(clock.System{})
	keys, budgets := memory.NewTenantModelKeys(), memory.NewBudgets()
	return application.StoreSide{Policies: s, History: s, Sessions: s, Turns: s, Locker: s,
		Keys: keys, Budgets: budgets, Usage: memory.NewUsage(), Tenants: memory.NewTenantList(s, keys, budgets)}
}

// sqliteSide is a new SQLite file as the copy's target.
func sqliteSide(t *testing.T) application.StoreSide {
	t.Helper()
	db, err := sqlite.Connect(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "target.db")}, clock.System{}, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	tenants := sqlite.NewTenants(db)
	policies := sqlite.NewPolicies(db)
	return application.StoreSide{Policies: policies, History: policies, Sessions: sqlite.NewSessions(db), Turns: sqlite.NewTurns(db),
		Locker: sqlite.NewLeases(db), Keys: tenants, Budgets: tenants, Usage: tenants, Tenants: tenants}
}

// filled writes into a store what a tenant's service leaves there.
type filled struct {
	t      *testing.T
	ctx    context.Context
	s      application.StoreSide
	tenant string
}

func (f filled) policy(agentID string, version int64, prompt string) {
	f.t.Helper()
	p := &domain.Policy{Agent: domain.Agent{ID: agentID, Name: agentID, SystemPrompt: prompt, Enabled: true, Version: version,
		CreatedAt: time.Now(), UpdatedAt: time.Now()},
		Rules: []domain.Rule{{ID: "greet", Condition: "hello", Action: "greet back: " + prompt, Scope: domain.ScopeGlobal, Enabled: true}}}
	require.NoError(f.t, f.s.Policies.SavePolicy(f.ctx, f.tenant, p))
}

// session opens a session of the channel user and commits turns to it.
func (f filled) session(agentID, user string, turns int) *domain.Session {
	f.t.Helper()
	key := domain.ChannelKey{TenantID: f.tenant, AgentID: agentID, Channel: "web", UserChannelID: user}
	l, err := f.s.Locker.LockSession(f.ctx, ports.LockRequest{TenantID: f.tenant, Candidate: domain.NewSession(uuid.NewString(), key, time.Now()),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(f.t, err)
	require.NoError(f.t, l.Release(f.ctx))
	f.turns(l.Token().SessionID, turns)
	return f.get(l.Token().SessionID)
}

func (f filled) turns(sessionID string, n int) {
	f.t.Helper()
	for range n {
		l, err := f.s.Locker.LockSession(f.ctx, ports.LockRequest{TenantID: f.tenant, SessionID: sessionID, Wait: time.Second, TTL: time.Minute})
		require.NoError(f.t, err)
		s := l.Session()
		num := s.TurnCount + 1
		after := s.Clone()
		after.SetVariable("seen", float64(num))
		after.AdvanceTurn(num, time.Now())
		require.NoError(f.t, f.s.Turns.CommitTurn(f.ctx, l.Token(), &domain.Turn{
			ID: uuid.NewString(), TenantID: f.tenant, AgentID: s.AgentID, AgentVersion: 2, SessionID: sessionID, TurnNumber: num,
			Message: fmt.Sprintf("message %d", num), Response: fmt.Sprintf("reply %d", num), Status: domain.TurnCompleted,
			Explanation: domain.Explanation{Matched: []domain.RuleMatch{{RuleID: "greet", Score: 0.9, Reason: "lexical match"}}},
			Usage:       domain.TokenUsage{Prompt: 10, Completion: 5}, CreatedAt: time.Now(), SessionAfter: after,
		}))
		require.NoError(f.t, l.Release(f.ctx))
	}
}

func (f filled) get(sessionID string) *domain.Session {
	f.t.Helper()
	s, err := f.s.Sessions.GetSession(f.ctx, f.tenant, sessionID)
	require.NoError(f.t, err)
	return s
}

func (f filled) turnsOf(sessionID string) []domain.Turn {
	f.t.Helper()
	p, err := f.s.Turns.ListTurns(f.ctx, f.tenant, sessionID, ports.TurnQuery{Order: ports.OrderAsc, Page: ports.PageRequest{Limit: 100}})
	require.NoError(f.t, err)
	return p.Items
}

func (f filled) version(agentID string, v int64) *domain.Policy {
	f.t.Helper()
	p, err := f.s.History.GetPolicyVersion(f.ctx, f.tenant, agentID, v)
	require.NoError(f.t, err)
	return p
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// copyClock fixes the month the copy counts usage in.
var copyClock = clock.NewFake()

// A tenant's agents, sessions with their turns, model key and budget move
// from the memory store to SQLite: every version at its number (also of an
// agent created again after a deletion), every turn record as stored,
// closed sessions closed, the key still sealed, the budget with this
// month's usage (docs/operations.md, "Moving to another store").
func TestStoreCopyMovesATenantsData(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	src.policy("shop", 0, "v1")
	src.policy("shop", 2, "v2")
	src.policy("reborn", 0, "first life")
	require.NoError(t, src.s.Policies.DeleteAgent(ctx, src.tenant, "reborn")) // marker 2
	src.policy("reborn", 0, "v3")
	src.policy("reborn", 4, "v4")
	closed := src.session("shop", "ann", 3)
	_, err := src.s.Sessions.CloseSession(ctx, src.tenant, closed.ID, time.Now())
	require.NoError(t, err)
	closed = src.get(closed.ID)
	active := src.session("shop", "ann", 2) // the same channel key, after the close
	empty := src.session("reborn", "bob", 0)
	key := ports.TenantModelKey{TenantID: src.tenant, Provider: "openai", Hint: "cdef", Models: []string{"gpt-4o"}, SetAt: time.Now().UTC(),
		Secret: ports.SealedSecret{KeyID: "k1", Nonce: []byte("nonce"), Ciphertext: []byte("sealed bytes")}}
	_, err = src.s.Keys.PutTenantModelKey(ctx, key)
	require.NoError(t, err)
	require.NoError(t, src.s.Budgets.SetTenantBudget(ctx, ports.TenantBudget{TenantID: src.tenant, MonthlyTokens: 100000, Month: "2001-01", SetAt: time.Now().UTC()}))
	month := application.MonthOf(copyClock.Now())
	require.NoError(t, src.s.Usage.RecordUsage(ctx, ports.UsageRecord{TenantID: src.tenant, Month: month, Holder: "i1", Prompt: 300, Completion: 200, Turns: 5}))

	cp, err := application.NewStoreCopy(src.s, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Agents: 2, Versions: 4, Sessions: 3, Turns: 5, Keys: 1, Budgets: 1}, res)

	for _, v := range []struct {
		agent    string
		versions []int64
	}{{"shop", []int64{1, 2}}, {"reborn", []int64{3, 4}}} {
		for _, n := range v.versions {
			assert.Equal(t, jsonOf(t, src.version(v.agent, n)), jsonOf(t, dst.version(v.agent, n)), "%s version %d", v.agent, n)
		}
		got, err := dst.s.History.ListPolicyVersions(ctx, dst.tenant, v.agent, ports.PageRequest{})
		require.NoError(t, err)
		assert.Len(t, got.Items, len(v.versions), "%s: only the current life is readable", v.agent)
	}
	for _, s := range []*domain.Session{closed, active, empty} {
		got := dst.get(s.ID)
		assert.Equal(t, s.Status, got.Status)
		assert.Equal(t, s.TurnCount, got.TurnCount)
		assert.Equal(t, s.Variables, got.Variables)
		assert.Equal(t, jsonOf(t, src.turnsOf(s.ID)), jsonOf(t, dst.turnsOf(s.ID)), "session %s's turns", s.ID)
	}
	keys, err := dst.s.Keys.TenantModelKeys(ctx, dst.tenant)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	keys[0].Revision = key.Revision
	assert.Equal(t, key, keys[0], "the key as sealed")
	budget, err := dst.s.Budgets.TenantBudget(ctx, dst.tenant)
	require.NoError(t, err)
	assert.Equal(t, ports.TenantBudget{TenantID: src.tenant, MonthlyTokens: 100000, Month: month, SpentBefore: 500, SetAt: budget.SetAt}, *budget,
		"this month's 500 tokens count against the copied budget")
	used, err := dst.s.Usage.MonthUsage(ctx, dst.tenant, month)
	require.NoError(t, err)
	assert.Equal(t, ports.UsageTotals{Prompt: 300, Completion: 200, Turns: 5}, used)
}

// A second run copies nothing and duplicates nothing; one after the source
// went on copies only what is new: a version, a session's later turns and
// its close. What the source deleted meanwhile stays in the target.
func TestStoreCopyRunsAgainSafely(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	src.policy("shop", 0, "v1")
	s := src.session("shop", "ann", 2)
	gone := src.session("shop", "bob", 1)
	cp, err := application.NewStoreCopy(src.s, dst.s, copyClock)
	require.NoError(t, err)
	_, err = cp.Copy(ctx, src.tenant)
	require.NoError(t, err)

	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Kept: 3}, res, "the agent and the sessions were there")
	assert.Len(t, dst.turnsOf(s.ID), 2)

	src.policy("shop", 2, "v2")
	src.turns(s.ID, 2)
	_, err = src.s.Sessions.CloseSession(ctx, src.tenant, s.ID, time.Now())
	require.NoError(t, err)
	require.NoError(t, src.s.Sessions.DeleteSession(ctx, src.tenant, gone.ID))
	res, err = cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Agents: 1, Versions: 1, Sessions: 1, Turns: 2}, res)
	assert.Equal(t, jsonOf(t, src.turnsOf(s.ID)), jsonOf(t, dst.turnsOf(s.ID)))
	assert.Equal(t, domain.SessionClosed, dst.get(s.ID).Status)
	assert.Equal(t, jsonOf(t, src.version("shop", 2)), jsonOf(t, dst.version("shop", 2)))
	assert.Len(t, dst.turnsOf(gone.ID), 1, "a copy deletes nothing")
}

// An agent the target has of its own under the same id is left alone and
// named; the rest is copied, and kept when edited in the target since.
func TestStoreCopyLeavesTheTargetsOwnAgent(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	src.policy("shop", 0, "v1")
	src.policy("shop", 2, "v2")
	src.policy("other", 0, "v1")
	dst.policy("shop", 0, "the target's own")
	cp, err := application.NewStoreCopy(src.s, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Agents)
	require.Len(t, res.Problems, 1)
	assert.Contains(t, res.Problems[0], "agent shop: the target's version 1 is not the source's")
	assert.Equal(t, "the target's own", dst.version("shop", 1).Agent.SystemPrompt)
	_, err = dst.s.Policies.GetPolicy(ctx, dst.tenant, "other")
	assert.NoError(t, err)

	// Edited in the target after the copy, an agent is still the copy's.
	dst.policy("other", 2, "edited in the target")
	res, err = cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Kept)
	assert.Len(t, res.Problems, 1)
	assert.Equal(t, "edited in the target", dst.version("other", 2).Agent.SystemPrompt)
}

// A session whose oldest turns the memory store's retention dropped cannot
// keep its numbering in the target: it is named, once also when it is
// closed (both passes over the sessions meet it), not half copied under
// other numbers, and the other sessions are copied.
func TestStoreCopyNamesASessionMissingItsFirstTurns(t *testing.T) {
	ctx := t.Context()
	trimmed := memory.New(clock.System{}, memory.WithRetention(memory.Retention{MaxTurns: 2}))
	side := memorySide()
	side.Policies, side.History, side.Sessions, side.Turns, side.Locker = trimmed, trimmed, trimmed, trimmed, trimmed
	src, dst := filled{t, ctx, side, uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	long := src.session("shop", "ann", 3)
	closed := src.session("shop", "cy", 3)
	_, err := src.s.Sessions.CloseSession(ctx, src.tenant, closed.ID, time.Now())
	require.NoError(t, err)
	short := src.session("shop", "bob", 2)
	require.Len(t, src.turnsOf(long.ID), 2, "turn 1 was dropped")

	cp, err := application.NewStoreCopy(src.s, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	require.Len(t, res.Problems, 2)
	assert.Contains(t, res.Problems[0], "session "+closed.ID+": the target waits for turn 1, the source's next is turn 2")
	assert.Contains(t, res.Problems[1], "session "+long.ID+": the target waits for turn 1, the source's next is turn 2")
	assert.Empty(t, dst.turnsOf(long.ID))
	assert.Equal(t, jsonOf(t, src.turnsOf(short.ID)), jsonOf(t, dst.turnsOf(short.ID)))
}

// A session whose channel user has another active session in the target
// is named and not copied: the target's session stays the user's.
func TestStoreCopyLeavesTheTargetsActiveSession(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	theirs := src.session("shop", "ann", 1)
	own := dst.session("shop", "ann", 1)
	cp, err := application.NewStoreCopy(src.s, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	require.Len(t, res.Problems, 1)
	assert.Contains(t, res.Problems[0], "session "+theirs.ID+": its channel key has another active session in the target ("+own.ID+")")
	_, err = dst.s.Sessions.GetSession(ctx, dst.tenant, theirs.ID)
	assert.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "%v", err)
	assert.Len(t, dst.turnsOf(own.ID), 1)
}

// Tenants lists every tenant the source holds data for, in order, past a
// page of the source's listing: what --all-tenants copies.
func TestStoreCopyListsEveryTenantOfTheSource(t *testing.T) {
	ctx := t.Context()
	src := memorySide()
	var want []string
	for range ports.MaxPageSize + 1 {
		tenant := uuid.NewString()
		require.NoError(t, src.Budgets.SetTenantBudget(ctx, ports.TenantBudget{TenantID: tenant, MonthlyTokens: 1, SetAt: time.Now()}))
		want = append(want, tenant)
	}
	withAgent := filled{t, ctx, src, uuid.NewString()}
	withAgent.policy("shop", 0, "v1")
	want = append(want, withAgent.tenant)
	cp, err := application.NewStoreCopy(src, sqliteSide(t), copyClock)
	require.NoError(t, err)
	got, err := cp.Tenants(ctx)
	require.NoError(t, err)
	assert.Equal(t, slices.Sorted(slices.Values(want)), got)
}

// pageWatch is a session store that checks, at each listing, that the
// sessions of that listing's page before (by status asked for) are in
// the target already: the copy holds a page of each listing in hand, not
// the tenant's whole list.
type pageWatch struct {
	ports.SessionStore
	t      *testing.T
	target ports.SessionStore
	last   map[domain.SessionStatus][]domain.Session
}

func (w *pageWatch) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	missing := 0
	for _, s := range w.last[q.Status] {
		if _, err := w.target.GetSession(ctx, tenantID, s.ID); err != nil {
			missing++
		}
	}
	assert.Zero(w.t, missing, "sessions of the page before not in the target when the next page is read")
	p, err := w.SessionStore.ListSessions(ctx, tenantID, q)
	w.last[q.Status] = p.Items
	return p, err
}

// A tenant's sessions are copied a page at a time, past one page: a
// channel user's many closed sessions, then the active one that followed
// them (docs/operations.md, "Moving to another store").
func TestStoreCopyPagesThroughSessions(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	var closed []string
	for range ports.MaxPageSize + 20 {
		s := src.session("shop", "ann", 0)
		_, err := src.s.Sessions.CloseSession(ctx, src.tenant, s.ID, time.Now())
		require.NoError(t, err)
		closed = append(closed, s.ID)
	}
	active := src.session("shop", "ann", 1)

	from := src.s
	from.Sessions = &pageWatch{SessionStore: src.s.Sessions, t: t, target: dst.s.Sessions, last: map[domain.SessionStatus][]domain.Session{}}
	cp, err := application.NewStoreCopy(from, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Sessions: len(closed) + 1, Turns: 1}, res)
	for _, id := range closed {
		assert.Equal(t, domain.SessionClosed, dst.get(id).Status)
	}
	assert.Equal(t, domain.SessionActive, dst.get(active.ID).Status)
}

// closeBetween is a session store that calls between once, when the copy
// has read the last page of its pass over the closed sessions: there
// sessions change under a copy that runs beside the service.
type closeBetween struct {
	ports.SessionStore
	between func()
}

func (b *closeBetween) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	p, err := b.SessionStore.ListSessions(ctx, tenantID, q)
	if between := b.between; err == nil && q.Status == domain.SessionClosed && p.NextCursor == "" && between != nil {
		b.between = nil
		between()
	}
	return p, err
}

// One run copies every session the source held when it began, whatever
// their status became meanwhile: sessions active when the closed ones were
// listed and closed before the active ones were, one past the first page
// of sessions and one on it, arrive closed with their turns; a session
// their user began meanwhile is left to the next run, and does not keep
// the closed one from being copied (docs/operations.md, "Moving to
// another store").
func TestStoreCopyTakesSessionsThatCloseDuringIt(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	old := src.session("shop", "ann", 1)
	for i := range ports.MaxPageSize {
		src.session("shop", fmt.Sprintf("user %d", i), 0)
	}
	recent := src.session("shop", "bob", 1)
	var later *domain.Session
	between := &closeBetween{SessionStore: src.s.Sessions, between: func() {
		for _, s := range []*domain.Session{old, recent} {
			_, err := src.s.Sessions.CloseSession(ctx, src.tenant, s.ID, time.Now())
			require.NoError(t, err)
		}
		later = src.session("shop", "ann", 1)
	}}
	from := src.s
	from.Sessions = between

	cp, err := application.NewStoreCopy(from, dst.s, copyClock)
	require.NoError(t, err)
	res, err := cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	require.Nil(t, between.between, "the sessions closed between the passes")
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Sessions: ports.MaxPageSize + 2, Turns: 2}, res)
	for _, s := range []*domain.Session{old, recent} {
		got := dst.get(s.ID)
		assert.Equal(t, domain.SessionClosed, got.Status, "session %s", s.ID)
		assert.Equal(t, jsonOf(t, src.turnsOf(s.ID)), jsonOf(t, dst.turnsOf(s.ID)), "session %s's turns", s.ID)
	}
	_, err = dst.s.Sessions.GetSession(ctx, dst.tenant, later.ID)
	assert.True(t, domain.IsCode(err, domain.CodeSessionNotFound), "begun during the run: %v", err)

	res, err = cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, application.CopyResult{TenantID: src.tenant, Sessions: 1, Turns: 1, Kept: ports.MaxPageSize + 2}, res, "the next run")
	assert.Equal(t, domain.SessionActive, dst.get(later.ID).Status)
}

// failOnce is a turn store whose first commit of turn number `at` fails
// as a store that did not answer: a copy interrupted there.
type failOnce struct {
	ports.TurnStore
	at     int
	failed bool
}

func (f *failOnce) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if turn.TurnNumber == f.at && !f.failed {
		f.failed = true
		return domain.Errorf(domain.CodeStoreUnavailable, "the store did not answer")
	}
	return f.TurnStore.CommitTurn(ctx, lease, turn)
}

// A turn whose session was closed while it ran reads back closed in the
// target, as in the source, also when the copy stopped between the close
// and the turn's commit and ran again (docs/operations.md, "Moving to
// another store").
func TestStoreCopyKeepsACloseThatLandedDuringATurn(t *testing.T) {
	ctx := t.Context()
	src, dst := filled{t, ctx, memorySide(), uuid.NewString()}, filled{t, ctx, sqliteSide(t), ""}
	dst.tenant = src.tenant
	s := src.session("shop", "ann", 1)
	l, err := src.s.Locker.LockSession(ctx, ports.LockRequest{TenantID: src.tenant, SessionID: s.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	after := l.Session().Clone()
	after.AdvanceTurn(2, time.Now())
	_, err = src.s.Sessions.CloseSession(ctx, src.tenant, s.ID, after.UpdatedAt.Add(time.Second))
	require.NoError(t, err)
	require.NoError(t, src.s.Turns.CommitTurn(ctx, l.Token(), &domain.Turn{ID: uuid.NewString(), TenantID: src.tenant, AgentID: "shop",
		SessionID: s.ID, TurnNumber: 2, Message: "bye", Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}))
	require.NoError(t, l.Release(ctx))
	want := src.turnsOf(s.ID)
	require.Equal(t, domain.SessionClosed, want[1].SessionAfter.Status, "the source's turn shows the close")

	to := dst.s
	to.Turns = &failOnce{TurnStore: dst.s.Turns, at: 2}
	cp, err := application.NewStoreCopy(src.s, to, copyClock)
	require.NoError(t, err)
	_, err = cp.Copy(ctx, src.tenant)
	require.Error(t, err, "interrupted")
	require.Equal(t, domain.SessionClosed, dst.get(s.ID).Status, "stopped between the close and the turn")
	_, err = cp.Copy(ctx, src.tenant)
	require.NoError(t, err)
	assert.Equal(t, jsonOf(t, want), jsonOf(t, dst.turnsOf(s.ID)))
	assert.Equal(t, jsonOf(t, src.get(s.ID)), jsonOf(t, dst.get(s.ID)))
}
