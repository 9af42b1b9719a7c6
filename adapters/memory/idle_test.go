package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
	"unique"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// storedJSON is what a client reads of a session: the session, its turns,
// its history and its place in the tenant's listing, as JSON.
func storedJSON(t *testing.T, s *Store, sess *domain.Session) string {
	ctx := context.Background()
	got, err := s.GetSession(ctx, sess.TenantID, sess.ID)
	require.NoError(t, err)
	turns, err := s.ListTurns(ctx, sess.TenantID, sess.ID, ports.TurnQuery{})
	require.NoError(t, err)
	newest, err := s.GetTurn(ctx, sess.TenantID, turns.Items[len(turns.Items)-1].ID)
	require.NoError(t, err)
	history, err := s.RecentHistory(ctx, sess.TenantID, sess.ID, 10)
	require.NoError(t, err)
	listed, err := s.ListSessions(ctx, sess.TenantID, ports.SessionQuery{AgentID: sess.AgentID, Status: got.Status})
	require.NoError(t, err)
	b, err := json.Marshal([]any{got, turns, newest, history, listed})
	require.NoError(t, err)
	return string(b)
}

// packed reports whether the store holds sess packed: cold, or thawed by
// a read but not yet used.
func packed(s *Store, sess *domain.Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.sessions[sess.ID]; ok {
		return e.snap == nil
	}
	_, cold := s.cold.findID(sess.ID)
	return cold
}

// A session unused for a while is packed, and reads, continues and closes
// as if it had not been: every read byte-identical in JSON, the next turn
// leased on the session as it was (turn number, version, state), a close
// kept.
func TestIdleSessionIsPackedAndReadsBackAsBefore(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c)
	sess := committedSession(t, s, 1)
	for range 2 {
		commitRich(t, s, sess)
	}
	before := storedJSON(t, s, sess)
	live, err := s.GetSession(ctx, sess.TenantID, sess.ID)
	require.NoError(t, err)

	s.Sweep(c.Now().Add(packAfter - time.Second))
	require.False(t, packed(s, sess), "a session used within packAfter stays live")
	s.Sweep(c.Now().Add(packAfter + time.Second))
	require.True(t, packed(s, sess), "a session unused for packAfter is packed")
	require.Equal(t, before, storedJSON(t, s, sess))
	require.True(t, packed(s, sess), "reads leave it packed")

	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	require.Equal(t, live.TurnCount+1, l.Token().TurnNumber)
	leased, err := json.Marshal(l.Session())
	require.NoError(t, err)
	wantLeased, err := json.Marshal(live)
	require.NoError(t, err)
	require.JSONEq(t, string(wantLeased), string(leased))
	require.NoError(t, l.Release(ctx))

	turn := commitRich(t, s, sess)
	got, err := s.GetSession(ctx, sess.TenantID, sess.ID)
	require.NoError(t, err)
	require.Equal(t, live.TurnCount+1, got.TurnCount)
	require.Equal(t, live.Version+1, got.Version)
	require.Equal(t, turn.SessionAfter.Variables, got.Variables)

	c.Advance(packAfter + time.Second)
	s.Sweep(c.Now())
	require.True(t, packed(s, sess))
	closed, err := s.CloseSession(ctx, sess.TenantID, sess.ID, c.Now())
	require.NoError(t, err)
	require.Equal(t, domain.SessionClosed, closed.Status)
	list, err := s.ListSessions(ctx, sess.TenantID, ports.SessionQuery{Status: domain.SessionClosed})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	require.Equal(t, closed.Version, list.Items[0].Version)
}

// Commits pack the sessions idle for packAfter, a few at a time, without
// waiting for a sweep; a session whose lease is held stays live.
func TestCommitsPackIdleSessions(t *testing.T) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c)
	idle := committedSession(t, s, 1)
	held := committedSession(t, s, 1)
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: held.TenantID, SessionID: held.ID, Wait: time.Second, TTL: time.Hour})
	require.NoError(t, err)
	c.Advance(packAfter + time.Second)
	committedSession(t, s, 1)
	require.True(t, packed(s, idle))
	require.False(t, packed(s, held), "a leased session stays live")
	require.NoError(t, l.Release(ctx))
}

// A session that retention keeps idle costs the collector next to
// nothing: it is a record in a slab of bytes, found through maps with no
// pointers (see coldStore). Before idle sessions were packed, a new
// user's session of one recorded turn cost 646 bytes to scan and 8
// objects, whether in use or idle; packed in place, 318 bytes and 5
// objects. (The first run in a process counts some 1,000 objects the
// encoders make once.)
func TestIdleSessionsCostTheCollectorLittle(t *testing.T) {
	f := keptPerTurn(t, 2000, 1, true)
	t.Logf("per idle one-turn session: %.0f B live, %.0f B to scan, %.1f objects", f.live, f.scan, f.objects)
	require.Less(t, f.scan, 100.0, "scannable bytes per idle session")
	require.Less(t, f.objects, 1.0, "objects per idle session")
}

// claimedPer is what a store keeps for each of n claimed idempotency keys,
// each claim's strings its own, as every request decodes its own.
func claimedPer(tb testing.TB, n int) heapFigures {
	ctx := context.Background()
	before := readHeap()
	c := clock.NewFake()
	s := New(c)
	for i := range n {
		rec := ports.IdempotencyRecord{TenantID: strings.Clone("550e8400-e29b-41d4-a716-446655440000"), Key: fmt.Sprint("key-", i),
			Fingerprint: fmt.Sprintf("%064x", i), Owner: footprintID(), Request: footprintID(), TurnID: footprintID(),
			HeldUntil: c.Now().Add(10 * time.Second), ExpiresAt: c.Now().Add(time.Minute)}
		_, claimed, err := s.ClaimIdempotencyKey(ctx, rec)
		require.NoError(tb, err)
		require.True(tb, claimed)
	}
	after := readHeap()
	runtime.KeepAlive(s)
	return heapFigures{live: (after.live - before.live) / float64(n), scan: (after.scan - before.scan) / float64(n),
		objects: (after.objects - before.objects) / float64(n)}
}

// A claimed idempotency key (a keyed chat request answered by its turn
// keeps only its claim) is two objects for the collector: its record and
// one string. Kept as ports.IdempotencyRecord with the request's strings
// it was 8 objects and 236 bytes to scan.
func TestIdempotencyClaimsCostTheCollectorLittle(t *testing.T) {
	f := claimedPer(t, 5000)
	t.Logf("per claimed key: %.0f B live, %.0f B to scan, %.1f objects", f.live, f.scan, f.objects)
	require.Less(t, f.scan, 200.0, "scannable bytes per claimed key")
	require.Less(t, f.objects, 3.0, "objects per claimed key")
}

// keyOf is k's activeKey by unique.Make alone, what activeKeyOf must
// give.
func keyOf(k domain.ChannelKey) activeKey {
	return activeKey{unique.Make(channelNames{k.TenantID, k.AgentID, k.Channel}), k.UserChannelID}
}

// activeKeyOf gives the key keyOf gives, whether the names were among
// the last few looked up or not: more names than it keeps, in turn and
// at random, and names that differ in one part only.
func TestActiveKeyOfIsKeyOf(t *testing.T) {
	s := New(clock.NewFake())
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 5000 {
		n := rng.IntN(20)
		if i%3 == 0 {
			n = i % 11
		}
		k := domain.ChannelKey{TenantID: fmt.Sprintf("t%d", n%3), AgentID: fmt.Sprintf("a%d", n%4), Channel: fmt.Sprintf("c%d", n%5),
			UserChannelID: fmt.Sprintf("u%d", rng.IntN(3))}
		require.Equal(t, keyOf(k), s.activeKeyOf(k), "%+v", k)
	}
}

// A keyed request stays answered while its turn is kept, also after its
// session went cold and a read brought it back: a second completed turn
// of the request, in another session, is refused naming the first.
func TestAKeyedRequestStaysAnsweredAcrossPacking(t *testing.T) {
	c := clock.NewFake()
	s := New(c)
	answer, err := firstTurn(t, s, c.Now(), "request-1")
	require.NoError(t, err)
	s.Sweep(c.Now().Add(packAfter + time.Second))
	require.True(t, packed(s, answer.SessionAfter))
	_, err = s.GetSession(t.Context(), "t", answer.SessionID) // thawed, still packed
	require.NoError(t, err)

	again, err := firstTurn(t, s, c.Now(), "request-1")
	var answered *ports.AnsweredError
	require.True(t, errors.As(err, &answered), "a second answer is refused, got %v", err)
	require.Equal(t, answer.ID, answered.TurnID)
	_, err = s.GetTurn(t.Context(), "t", again.ID)
	require.True(t, domain.IsCode(err, domain.CodeTurnNotFound), "the refused turn is not stored: %v", err)
}
