package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A delta rebuilds the older JSON byte for byte from the newer, whatever
// the two hold: equal, disjoint, one empty, grown, shrunk, shifted,
// repeating.
func TestAfterDeltaRebuildsTheOlderJSON(t *testing.T) {
	grown := `{"id":"s1","turn_count":7,"rule_fires":{"r1":{"count":3,"last_turn":7},"r2":{"count":1,"last_turn":2}},"version":8}`
	for _, c := range []struct{ name, base, target string }{
		{"equal", grown, grown},
		{"empty target", grown, ""},
		{"empty base", "", grown},
		{"both empty", "", ""},
		{"short", "ab", "abc"},
		{"disjoint", strings.Repeat("x", 100), strings.Repeat("y", 90)},
		{"one rule less, counts lower", grown, `{"id":"s1","turn_count":6,"rule_fires":{"r1":{"count":2,"last_turn":6}},"version":7}`},
		{"older is bigger", `{"a":1}`, strings.Repeat(`{"a":1}`, 50)},
		{"shifted by one", "0123456789abcdefghijklmnopqrstuvwxyz", "_0123456789abcdefghijklmnopqrstuvwxyz"},
		{"a count gaining a digit", strings.Replace(grown, `"turn_count":7`, `"turn_count":10`, 1), grown},
		{"a count losing a digit", grown, strings.Replace(grown, `"turn_count":7`, `"turn_count":10`, 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireDeltaRoundTrip(t, []byte(c.base), []byte(c.target))
		})
	}
}

// Past a count that gained or lost a digit since the older session (turn
// 9 to 10), the copy resumes past the digits, a byte off where the last
// one left off: nearby finds it without indexing the base.
func TestAfterDeltaResumesPastACountGainingADigit(t *testing.T) {
	nine := `{"id":"s1","turn_count":9,"rule_fires":{"r1":{"count":3,"last_turn":7}},"version":8}`
	ten := strings.Replace(nine, ":9,", ":10,", 1)
	at := strings.Index(nine, ":9,") + 1
	for _, c := range []struct {
		name, base, target string
		want               deltaMatch
	}{
		{"gained", ten, nine, deltaMatch{start: at + 1, from: at + 2, n: deltaLongEnough}},
		{"lost", nine, ten, deltaMatch{start: at + 2, from: at + 1, n: deltaLongEnough}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := deltaMatcher{base: []byte(c.base), target: []byte(c.target)}
			require.Equal(t, deltaMatch{}, d.resumed(at, at))
			require.Equal(t, c.want, d.nearby(at, at))
			requireDeltaRoundTrip(t, d.base, d.target)
		})
	}
}

// A rule fired again since the older session changes two numbers a few
// bytes apart, its count and its last turn (1 to 11, a digit gained):
// shifted then copies the bytes between them from a neighbouring rule's
// entry, whose numbers differ past them, and the copy resumes past the
// second number on the diagonal of the last long copy, without indexing
// the base.
func TestAfterDeltaResumesPastARuleFiredAgain(t *testing.T) {
	var rules strings.Builder
	for i := range 12 {
		fmt.Fprintf(&rules, `,"r%05d_rule":{"count":1,"last_turn":%d}`, i, i+1)
	}
	older := `{"id":"01a241db-0000-7000-8000-000000000001","turn_count":10,"rule_fires":{` + rules.String()[1:] + `},"version":10,"updated_at":"2026-12-06T09:38:58.634353674Z"}`
	newer := strings.Replace(strings.Replace(older, `"r00000_rule":{"count":1,"last_turn":1}`, `"r00000_rule":{"count":2,"last_turn":11}`, 1),
		`"turn_count":10`, `"turn_count":11`, 1)
	var index [1 << deltaMaxBits]int32
	delta := requireDeltaRoundTrip(t, []byte(newer), []byte(older))
	clear(index[:])
	require.Equal(t, delta, appendDelta(nil, []byte(newer), []byte(older), &index))
	require.Equal(t, [1 << deltaMaxBits]int32{}, index, "the base indexed")
	require.LessOrEqual(t, len(delta), len(appendDeltaMeasuring(nil, []byte(newer), []byte(older), &index, false, true)))
}

// FuzzAfterDelta checks the round trip on any pair, and that a corrupt
// delta fails instead of reading out of bounds.
func FuzzAfterDelta(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":[1,2,3]}`), []byte(`{"a":2,"b":[1,2]}`), uint16(3))
	f.Add([]byte(strings.Repeat("abcdefgh", 40)), []byte(strings.Repeat("abcdefgX", 41)), uint16(7))
	f.Fuzz(func(t *testing.T, base, target []byte, cut uint16) {
		delta := requireDeltaRoundTrip(t, base, target)
		// Cut or flipped, it fails or rebuilds something: never panics.
		_, _ = applyDelta(nil, base, string(delta[:int(cut)%(len(delta)+1)]))
		flipped := bytes.Clone(delta)
		flipped[int(cut)%len(flipped)] ^= 0x55
		_, _ = applyDelta(nil, base, string(flipped))
	})
}

func requireDeltaRoundTrip(t *testing.T, base, target []byte) []byte {
	t.Helper()
	var index [1 << deltaMaxBits]int32
	delta := appendDelta(nil, base, target, &index)
	require.Equal(t, appendDeltaMeasuring(nil, base, target, &index, true, false), delta, "the delta measuring every probe")
	got, err := applyDelta(nil, base, string(delta))
	require.NoError(t, err)
	require.Equal(t, string(target), string(got))
	return delta
}

// The probes appendDelta leaves unmeasured, and the base it indexes only
// when a probe needs it, change no delta: over sessions' JSON grown,
// edited and shuffled at random, and over repetitive text edited at
// random, it makes the delta that indexing up front and measuring every
// probe makes (both with the same scratch index, as a store's encoder).
func TestAfterDeltaSkipsOnlyProbesThatCannotWin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var index [1 << deltaMaxBits]int32
	pairs := 0
	check := func(base, target []byte) {
		t.Helper()
		// appendDelta first: what the index holds then is another base's.
		got := appendDelta(nil, base, target, &index)
		require.Equal(t, appendDeltaMeasuring(nil, base, target, &index, true, false), got, "base %q target %q", base, target)
		pairs++
	}
	for round := range 40 {
		sess := domain.NewSession("s", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, time.Unix(1e9, 0))
		older, err := json.Marshal(sess)
		require.NoError(t, err)
		for n := 1; n <= 60; n++ {
			for range 1 + rng.IntN(3) {
				sess.RecordFire(fmt.Sprintf("rule-%03d", rng.IntN(20+round*10)), n)
			}
			if rng.IntN(4) == 0 {
				sess.SetVariable(fmt.Sprint("v", rng.IntN(5)), strings.Repeat("x", rng.IntN(40)))
			}
			sess.AdvanceTurn(n, time.Unix(1e9+int64(n)*7, int64(n)*1e6))
			newer, err := json.Marshal(sess)
			require.NoError(t, err)
			check(newer, older)
			check(older, newer)
			check(newer, randomEdits(rng, newer))
			older = newer
		}
	}
	for range 2000 {
		unit := []byte(`{"rule_id":"r` + fmt.Sprint(rng.IntN(100)) + `","count":`)
		base := bytes.Repeat(unit, 1+rng.IntN(60))
		check(base, randomEdits(rng, base))
	}
	t.Logf("%d pairs", pairs)
}

// Finding the match after an insertion near where the last copy left off
// (shifted), and none near the end, keeps deltas as small as finding
// every match by the index did, in total: over sessions' JSON grown a
// turn at a time as the commit benchmark's users grow them (a rule fire,
// a step visit, counters and times), older against newer (17 % smaller),
// and over those edited at random (12 % smaller); no delta is more than
// a few dozen bytes bigger.
func TestAfterDeltaShiftedIsAsSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var index [1 << deltaMaxBits]int32
	sizes := func(base, target []byte) (got, want int) {
		t.Helper()
		delta := appendDelta(nil, base, target, &index)
		rebuilt, err := applyDelta(nil, base, string(delta))
		require.NoError(t, err)
		require.Equal(t, string(target), string(rebuilt))
		ref := appendDeltaMeasuring(nil, base, target, &index, false, true)
		return len(delta), len(ref)
	}
	var got, want, editGot, editWant, worst int
	for round := range 40 {
		sess := domain.NewSession("s", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, time.Unix(1e9, 0))
		older, err := json.Marshal(sess)
		require.NoError(t, err)
		for n := 1; n <= 40; n++ {
			sess.RecordFire(fmt.Sprintf("r%05d_rule", rng.IntN(15+round)), n)
			if rng.IntN(3) > 0 {
				sess.EnterStep("card_delivery", fmt.Sprint("step-", rng.IntN(3)), n)
			}
			sess.AdvanceTurn(n, time.Unix(1e9+int64(n)*7, rng.Int64N(1e9)))
			newer, err := json.Marshal(sess)
			require.NoError(t, err)
			g, w := sizes(newer, older)
			got, want = got+g, want+w
			g, w = sizes(newer, randomEdits(rng, newer))
			editGot, editWant = editGot+g, editWant+w
			worst = max(worst, g-w)
			older = newer
		}
	}
	t.Logf("grown sessions: %d bytes of deltas, %d by the index alone; edited: %d, %d; worst %d more", got, want, editGot, editWant, worst)
	require.LessOrEqual(t, got, want, "grown sessions")
	require.LessOrEqual(t, editGot, editWant, "edited sessions")
	// Measured: 56 (an edit in the repeated step visits, where shifted
	// found an earlier visit).
	require.LessOrEqual(t, worst, 2*deltaLongEnough)
}

// randomEdits returns b with a few bytes replaced, inserted, deleted or
// runs of it moved.
func randomEdits(rng *rand.Rand, b []byte) []byte {
	out := bytes.Clone(b)
	for range 1 + rng.IntN(6) {
		if len(out) < 2 {
			break
		}
		i := rng.IntN(len(out))
		switch rng.IntN(4) {
		case 0:
			out[i] = byte('0' + rng.IntN(10))
		case 1:
			out = slices.Insert(out, i, []byte(`,"x":1`)[:1+rng.IntN(6)]...)
		case 2:
			out = slices.Delete(out, i, min(len(out), i+1+rng.IntN(20)))
		default:
			j := rng.IntN(len(out))
			n := min(1+rng.IntN(40), len(out)-max(i, j))
			run := bytes.Clone(out[j : j+n])
			out = slices.Insert(slices.Delete(out, j, j+n), min(i, len(out)-n), run...)
		}
	}
	return out
}

// A random JSON-like session grown a little at a time keeps deltas of a
// few dozen bytes: the size of the change, not of the session.
func TestAfterDeltaIsTheSizeOfTheChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sess := domain.NewSession("s", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, time.Unix(1e9, 0))
	var index [1 << deltaMaxBits]int32
	older, err := json.Marshal(sess)
	require.NoError(t, err)
	for n := 1; n <= 300; n++ {
		sess.RecordFire(fmt.Sprintf("rule-%03d", rng.IntN(400)), n)
		sess.AdvanceTurn(n, time.Unix(1e9+int64(n)*7, int64(n)*1e6))
		newer, err := json.Marshal(sess)
		require.NoError(t, err)
		delta := appendDelta(nil, newer, older, &index)
		got, err := applyDelta(nil, newer, string(delta))
		require.NoError(t, err)
		require.Equal(t, string(older), string(got))
		require.Less(t, len(delta), 120, "turn %d: %d bytes of JSON", n, len(newer))
		older = newer
	}
}

// commitGrowing commits the next turn of the session sess names: a small
// record, and a session after it that has fired one more rule than before
// and one of the earlier ones again, as a returning user's does, with a
// variable and a scenario step that change now and then.
func commitGrowing(tb testing.TB, s *Store, sess *domain.Session) *domain.Turn {
	return commitNext(tb, s, sess, true)
}

// commitNext commits the next turn of the session sess names, as
// commitGrowing does; unless grow, its rules fired before.
func commitNext(tb testing.TB, s *Store, sess *domain.Session, grow bool) *domain.Turn {
	ctx := context.Background()
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(tb, err)
	tok := l.Token()
	n := tok.TurnNumber
	after := l.Session()
	if grow {
		after.RecordFire(fmt.Sprintf("rule-%03d", n), n)
		after.RecordFire(fmt.Sprintf("rule-%03d", n/3), n)
	} else {
		after.RecordFire(fmt.Sprintf("rule-%03d", n%2), n)
	}
	if n%5 == 0 {
		after.SetVariable("order", fmt.Sprint("AC-", n))
		after.EnterStep("returns", fmt.Sprint("step-", n%3), n)
	}
	after.AdvanceTurn(n, s.clock.Now().Add(time.Duration(n)*time.Second))
	turn := &domain.Turn{ID: footprintID(), TenantID: sess.TenantID, AgentID: sess.AgentID, SessionID: sess.ID, TurnNumber: n,
		Message: fmt.Sprint("message ", n), Response: fmt.Sprint("reply ", n), Status: domain.TurnCompleted,
		Explanation: domain.NewExplanation(), CreatedAt: s.clock.Now(), SessionAfter: after}
	require.NoError(tb, s.CommitTurn(ctx, tok, turn))
	require.NoError(tb, l.Release(ctx))
	return turn
}

// newGrowingSession opens a session on s by channel key and returns it.
func newGrowingSession(tb testing.TB, s *Store, user string) *domain.Session {
	ctx := context.Background()
	key := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: user}
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(footprintID(), key, s.clock.Now()),
		Wait: time.Second, TTL: time.Minute})
	require.NoError(tb, err)
	sess := l.Session()
	require.NoError(tb, l.Release(ctx))
	return sess
}

// heldPerSession is the live heap a store holds per session for users
// sessions of turns turns each, of which it keeps maxTurns, once they
// are idle (packed); and the state after the last turn, encoded whole.
func heldPerSession(tb testing.TB, users, turns, maxTurns int, grow bool) (float64, []byte) {
	before := readHeap()
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: maxTurns}))
	var last *domain.Turn
	for u := range users {
		sess := newGrowingSession(tb, s, fmt.Sprint("user-", u))
		for range turns {
			last = commitNext(tb, s, sess, grow)
		}
	}
	// Idle, the sessions are packed: their state is what their newest
	// turns hold.
	s.Sweep(c.Now().Add(time.Duration(turns)*time.Second + packAfter))
	after := readHeap()
	runtime.KeepAlive(s)
	raw, err := last.SessionAfter.AppendJSON(nil)
	require.NoError(tb, err)
	var enc encoder
	return (after.live - before.live) / float64(users), enc.compress(raw)
}

// A returning user's session grows with every rule it fires, and each of
// its kept turns holds the session as it was after that turn: the store
// pays for the grown state about once, not once per kept turn. Sessions
// of 200 turns, 20 kept, whose state after the last turn has 200 rules
// in rule_fires (2.5 KB encoded whole), are held in under 3 whole
// encodings more than sessions of as many turns whose state stays small.
// Kept whole in every turn, as before, they took 17 encodings more (43 KB).
func TestGrowingSessionIsKeptAboutOnce(t *testing.T) {
	const users, turns, maxTurns = 50, 200, 20
	grown, whole := heldPerSession(t, users, turns, maxTurns, true)
	small, _ := heldPerSession(t, users, turns, maxTurns, false)
	t.Logf("per session: %.0f B live grown, %.0f B small; the grown state is %d B encoded whole", grown, small, len(whole))
	require.Less(t, grown-small, 3*float64(len(whole)))
}

// readsOfTurns is every kept turn of sess as a client reads it, as JSON
// by turn id: by GetTurn, and by ListTurns page by page in both orders
// (which must agree); and the ids listed, oldest first.
func readsOfTurns(t *testing.T, s *Store, sess *domain.Session) (map[string]string, []string) {
	ctx := context.Background()
	got := map[string]string{}
	var ids []string
	for _, order := range []ports.TurnOrder{ports.OrderAsc, ports.OrderDesc} {
		q := ports.TurnQuery{Order: order, Page: ports.PageRequest{Limit: 7}}
		var listed []string
		for {
			page, err := s.ListTurns(ctx, sess.TenantID, sess.ID, q)
			require.NoError(t, err)
			for _, turn := range page.Items {
				b, err := json.Marshal(turn)
				require.NoError(t, err)
				if prev, ok := got[turn.ID]; ok {
					require.Equal(t, prev, string(b), "turn %d listed %s", turn.TurnNumber, order)
				}
				got[turn.ID] = string(b)
				listed = append(listed, turn.ID)
			}
			if page.NextCursor == "" {
				break
			}
			q.Page.Cursor = page.NextCursor
		}
		if order == ports.OrderDesc {
			slices.Reverse(listed)
			require.Equal(t, ids, listed, "the listing in both orders")
		}
		ids = listed
	}
	for _, id := range ids {
		turn, err := s.GetTurn(ctx, sess.TenantID, id)
		require.NoError(t, err)
		b, err := json.Marshal(turn)
		require.NoError(t, err)
		require.Equal(t, got[id], string(b), "turn %d by GetTurn", turn.TurnNumber)
	}
	return got, ids
}

// requireReadsAsCommitted checks that the kept turns of sess are the
// newest of committed and read back byte-identical in JSON to what
// GetTurn returned before turns were kept encoded; the older ones are
// TURN_NOT_FOUND.
func requireReadsAsCommitted(t *testing.T, s *Store, sess *domain.Session, committed []*domain.Turn, kept int) {
	t.Helper()
	got, ids := readsOfTurns(t, s, sess)
	require.Len(t, ids, min(kept, len(committed)))
	keptFrom := len(committed) - len(ids)
	for i, turn := range committed {
		if i < keptFrom {
			_, err := s.GetTurn(context.Background(), sess.TenantID, turn.ID)
			requireCode(t, err, domain.CodeTurnNotFound)
			continue
		}
		want, err := json.Marshal(oldDecode(t, turn))
		require.NoError(t, err)
		require.Equal(t, turn.ID, ids[i-keptFrom])
		require.Equal(t, string(want), got[turn.ID], "turn %d", turn.TurnNumber)
	}
}

// requireDeltas checks that every kept turn of sess but the newest and
// those numbered a multiple of wholeAfterEvery keeps its SessionAfter as
// a delta.
func requireDeltas(t *testing.T, s *Store, sess *domain.Session) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	turns := s.sessions[sess.ID].turns
	for i, kept := range turns {
		whole := i == len(turns)-1 || kept.number%wholeAfterEvery == 0
		require.Equal(t, !whole, kept.delta, "turn %d", kept.number)
	}
}

// Turns whose SessionAfter is kept as a delta read back byte-identical to
// what was committed, by GetTurn and by ListTurns in both orders and any
// page: after many commits, after retention dropped the oldest, once the
// session is packed and after it went on.
func TestOlderTurnsReadBackAsCommitted(t *testing.T) {
	const maxTurns = 40
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: maxTurns}))
	sess := newGrowingSession(t, s, "reader")
	var committed []*domain.Turn
	for n := 1; n <= 100; n++ {
		if n%3 == 0 {
			committed = append(committed, commitRich(t, s, sess))
		} else {
			committed = append(committed, commitGrowing(t, s, sess))
		}
		if n%9 == 0 {
			requireReadsAsCommitted(t, s, sess, committed, maxTurns)
		}
	}
	requireDeltas(t, s, sess)
	requireReadsAsCommitted(t, s, sess, committed, maxTurns)

	s.Sweep(c.Now().Add(time.Hour))
	require.True(t, packed(s, sess))
	requireReadsAsCommitted(t, s, sess, committed, maxTurns)
	require.True(t, packed(s, sess), "reads leave it packed")

	for range 5 {
		committed = append(committed, commitGrowing(t, s, sess))
	}
	requireDeltas(t, s, sess)
	requireReadsAsCommitted(t, s, sess, committed, maxTurns)
}

// A commit reads the JSON of the session the turn before left from that
// turn, where the commit before made it, instead of encoding the session
// again: it is that session's JSON byte for byte whenever a turn holds it,
// the newest turn holds it from the second commit on (but after a turn
// kept whole, which makes no delta), and no turn holds it once its session
// is packed.
func TestCommitReusesTheNewerJSON(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 40}))
	sess := newGrowingSession(t, s, "reuse")
	for n := 1; n <= 80; n++ {
		if n%3 == 0 {
			commitRich(t, s, sess)
		} else {
			commitGrowing(t, s, sess)
		}
		s.mu.Lock()
		turns := s.sessions[sess.ID].turns
		for _, kept := range turns {
			if kept.liveJSON == nil {
				continue
			}
			require.NotNil(t, kept.liveAfter, "turn %d", kept.number)
			want, err := kept.liveAfter.AppendJSON(nil)
			require.NoError(t, err)
			require.Equal(t, string(want), string(kept.liveJSON), "turn %d", kept.number)
		}
		newest := turns[len(turns)-1]
		require.Equal(t, n > 1 && (n-1)%wholeAfterEvery != 0, newest.liveJSON != nil, "turn %d", n)
		s.mu.Unlock()
	}
	s.mu.Lock()
	turns := s.sessions[sess.ID].turns
	last, err := turns[len(turns)-1].liveAfter.AppendJSON(nil)
	s.mu.Unlock()
	require.NoError(t, err)
	// Packing compresses the JSON the newest turn holds.
	s.Sweep(c.Now().Add(time.Hour))
	require.True(t, packed(s, sess))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kept := range turns {
		require.Nil(t, kept.liveJSON, "turn %d", kept.number)
	}
	whole, err := s2.Decode(nil, []byte(newestAfter(s, sess.ID)))
	require.NoError(t, err)
	require.Equal(t, string(last), string(whole))
}

// newestAfter is what the newest kept turn of session id holds of its
// SessionAfter, where the session is: in its entry, or in its cold record
// (the entry it went cold from no longer holds it). The caller holds s.mu.
func newestAfter(s *Store, id string) string {
	if e, ok := s.sessions[id]; ok {
		return e.turns[len(e.turns)-1].after
	}
	h, _ := s.cold.findID(id)
	after := ""
	s.cold.record(h).eachTurn(func(t *storedTurn) bool {
		after = t.after
		return true
	})
	return after
}

// Where retention keeps no more than wholeAfterEvery turns, a read
// applies fewer deltas than that anyway: every kept turn but the newest
// keeps its SessionAfter as a delta, those numbered a multiple of
// wholeAfterEvery too, and all read back as committed. (Kept whole, each
// such turn held a returning user's grown state once more.)
func TestShortRetentionKeepsNoTurnWhole(t *testing.T) {
	const maxTurns = 20
	s := New(clock.NewFake(), WithRetention(Retention{MaxTurns: maxTurns}))
	sess := newGrowingSession(t, s, "short")
	var committed []*domain.Turn
	for range 2*wholeAfterEvery + 5 {
		committed = append(committed, commitGrowing(t, s, sess))
	}
	s.mu.Lock()
	turns := s.sessions[sess.ID].turns
	require.Len(t, turns, maxTurns)
	for i, kept := range turns {
		require.Equal(t, i < len(turns)-1, kept.delta, "turn %d", kept.number)
	}
	s.mu.Unlock()
	requireReadsAsCommitted(t, s, sess, committed, maxTurns)
}

// A turn committed while its session was closed keeps its SessionAfter as
// the commit changed it; the turn before it keeps its own as a delta
// against that, and every turn reads back as committed.
func TestTurnAfterACloseReadsBackAsCommitted(t *testing.T) {
	ctx := context.Background()
	s := New(clock.NewFake())
	sess := newGrowingSession(t, s, "closer")
	var committed []*domain.Turn
	for range 5 {
		committed = append(committed, commitGrowing(t, s, sess))
	}
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	after := l.Session()
	after.RecordFire("late", 6)
	after.AdvanceTurn(6, s.clock.Now())
	_, err = s.CloseSession(ctx, sess.TenantID, sess.ID, s.clock.Now())
	require.NoError(t, err)
	turn := &domain.Turn{ID: footprintID(), TenantID: sess.TenantID, SessionID: sess.ID, TurnNumber: 6, Message: "bye", Response: "bye",
		Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), SessionAfter: after}
	require.NoError(t, s.CommitTurn(ctx, l.Token(), turn))
	require.NoError(t, l.Release(ctx))
	require.Equal(t, domain.SessionClosed, turn.SessionAfter.Status)
	committed = append(committed, turn)
	requireReadsAsCommitted(t, s, sess, committed, len(committed))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, kept := range s.sessions[sess.ID].turns {
		require.Equal(t, i < 5, kept.delta, "turn %d", kept.number)
	}
}

// BenchmarkAfterDelta is what a commit adds to keep the turn before as a
// delta (decoding its whole encoding, making the delta), and what reading
// it back adds, for a returning user's session of 16 turns (1.3 KB of
// JSON, as the soak's after seeding).
func BenchmarkAfterDelta(b *testing.B) {
	s := New(clock.NewFake())
	sess := newGrowingSession(b, s, "bench")
	var older, newer []byte
	for range 16 {
		turn := commitGrowing(b, s, sess)
		older = newer
		var err error
		newer, err = json.Marshal(turn.SessionAfter)
		require.NoError(b, err)
	}
	whole := s2.Encode(nil, older)
	var index [1 << deltaMaxBits]int32
	var raw, delta []byte
	b.Run("make", func(b *testing.B) {
		for b.Loop() {
			var err error
			raw, err = s2.Decode(raw[:cap(raw)], whole)
			require.NoError(b, err)
			delta = appendDelta(delta[:0], newer, raw, &index)
		}
		b.ReportMetric(float64(len(delta)), "delta-B")
		b.ReportMetric(float64(len(whole)), "whole-B")
	})
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			var err error
			raw, err = applyDelta(raw, newer, string(delta))
			require.NoError(b, err)
		}
	})
}
