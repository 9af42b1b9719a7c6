package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// plannedTurn and plannedSession are what a generated user does, so that
// two stores can be given the very same turns.
type plannedTurn struct {
	id, message, keyed string
	fires              int
}

type plannedSession struct {
	key    domain.ChannelKey
	id     string
	turns  []plannedTurn
	closed bool
	gap    time.Duration // the clock advances by it first
}

// planSessions generates n users' sessions: a few tenants, agents and
// channels, mostly one to three turns (some a dozen, past retention),
// messages of up to a few KiB (one of 300 KiB: a session too big to go
// cold), some closed, some turns answering keyed requests.
func planSessions(rng *rand.Rand, n int) []plannedSession {
	plan := make([]plannedSession, n)
	for i := range plan {
		p := &plan[i]
		p.key = domain.ChannelKey{TenantID: fmt.Sprint("t", rng.IntN(2)), AgentID: fmt.Sprint("a", rng.IntN(3)),
			Channel: []string{"web", "sms"}[rng.IntN(2)], UserChannelID: fmt.Sprint("user-", i)}
		p.id, p.closed, p.gap = footprintID(), rng.IntN(5) == 0, time.Duration(rng.IntN(2000))*time.Millisecond
		turns := 1 + rng.IntN(3)
		if rng.IntN(10) == 0 {
			turns = 8 + rng.IntN(5)
		}
		for range turns {
			t := plannedTurn{id: footprintID(), message: randomText(rng, 100+rng.IntN(4000)), fires: rng.IntN(4)}
			if rng.IntN(10) == 0 {
				t.keyed = footprintID()
			}
			p.turns = append(p.turns, t)
		}
	}
	plan[n/2].turns[0].message = randomText(rng, 300<<10)
	return plan
}

func randomText(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

// applyPlan gives s the planned sessions' turns and closes, as of c.
func applyPlan(t *testing.T, s *Store, c clock.Fake, plan []plannedSession) {
	ctx := context.Background()
	for _, p := range plan {
		c.Advance(p.gap)
		for _, pt := range p.turns {
			_, err := planTurn(s, c, p, pt)
			require.NoError(t, err)
		}
		if p.closed {
			_, err := s.CloseSession(ctx, p.key.TenantID, p.id, c.Now())
			require.NoError(t, err)
		}
	}
}

// planTurn leases p's session by channel key, commits pt on it and
// releases it; it returns what the lease handed over, as JSON.
func planTurn(s *Store, c clock.Fake, p plannedSession, pt plannedTurn) (string, error) {
	ctx := context.Background()
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: p.key.TenantID, Candidate: domain.NewSession(p.id, p.key, c.Now()),
		History: 5, Wait: time.Second, TTL: time.Minute})
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Release(ctx) }()
	tok, after := l.Token(), l.Session()
	leased, err := json.Marshal([]any{tok.TurnNumber, l.Created(), after, l.History()})
	if err != nil {
		return "", err
	}
	for f := range pt.fires {
		after.RecordFire(fmt.Sprint("rule-", f), tok.TurnNumber)
	}
	after.SetVariable("count", float64(tok.TurnNumber))
	after.AdvanceTurn(tok.TurnNumber, c.Now())
	turn := &domain.Turn{ID: pt.id, TenantID: p.key.TenantID, AgentID: p.key.AgentID, SessionID: after.ID, TurnNumber: tok.TurnNumber,
		Message: pt.message, Response: "noted", Status: domain.TurnCompleted, KeyedRequest: pt.keyed,
		Explanation: domain.NewExplanation(), SessionAfter: after, CreatedAt: c.Now()}
	return string(leased), s.CommitTurn(ctx, tok, turn)
}

// planReads is everything a client reads of p's session, as JSON, errors
// included: a turn by id first (so that a cold session is found by its
// turn), then the session, its turns page by page, its history.
func planReads(s *Store, p plannedSession) string {
	ctx := context.Background()
	var out []any
	add := func(v any, err error) {
		if err != nil {
			v = err.Error()
		}
		out = append(out, v)
	}
	add(s.GetTurn(ctx, p.key.TenantID, p.turns[len(p.turns)-1].id))
	add(s.GetSession(ctx, p.key.TenantID, p.id))
	add(s.GetSession(ctx, "another-tenant", p.id))
	q := ports.TurnQuery{Page: ports.PageRequest{Limit: 3}}
	for {
		page, err := s.ListTurns(ctx, p.key.TenantID, p.id, q)
		add(page, err)
		if err != nil || page.NextCursor == "" {
			break
		}
		q.Page.Cursor = page.NextCursor
	}
	add(s.RecentHistory(ctx, p.key.TenantID, p.id, 4))
	b, err := json.Marshal(out)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// listings is every tenant's sessions as ListSessions pages them, by
// agent and status too, as JSON.
func listings(t *testing.T, s *Store) string {
	var out []ports.Page[domain.Session]
	for _, q := range []ports.SessionQuery{{}, {AgentID: "a1"}, {Status: domain.SessionClosed}, {AgentID: "a2", Status: domain.SessionActive}} {
		for _, tenant := range []string{"t0", "t1"} {
			q.Page = ports.PageRequest{Limit: 97}
			for {
				page, err := s.ListSessions(context.Background(), tenant, q)
				require.NoError(t, err)
				out = append(out, page)
				if page.NextCursor == "" {
					break
				}
				q.Page.Cursor = page.NextCursor
			}
		}
	}
	b, err := json.Marshal(out)
	require.NoError(t, err)
	return string(b)
}

// requireSameReads reads every planned session from both stores.
func requireSameReads(t *testing.T, want, got *Store, plan []plannedSession) {
	t.Helper()
	requireSameJSON(t, listings(t, want), listings(t, got), "the listings")
	for _, p := range plan {
		require.Equal(t, planReads(want, p), planReads(got, p), "session %s", p.id)
	}
}

// requireSameJSON shows where long JSON differs.
func requireSameJSON(t *testing.T, want, got string, what string) {
	t.Helper()
	if want == got {
		return
	}
	i := 0
	for i < min(len(want), len(got)) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-300)
	t.Fatalf("%s differ at %d:\nwant %s\n got %s", what, i, want[lo:min(len(want), i+200)], got[lo:min(len(got), i+200)])
}

// coldSessions counts got's cold sessions, checking its slabs on the way:
// every slot's record names its handle, the live bytes of each slab are
// its slots' records, and each slab but the one being filled is at least
// half live once compacted.
func coldSessions(t *testing.T, s *Store, compacted bool) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.cold
	live := make([]int, len(c.slabs))
	n := 0
	for h, p := range c.slots {
		if p == 0 {
			continue
		}
		n++
		r := c.record(uint32(h))
		require.Equal(t, uint32(h), r.handle())
		slab, _ := unplace(p)
		live[slab] += len(r)
	}
	require.True(t, slices.Equal(live, c.live), "live bytes %v, counted %v", c.live, live)
	requireEntryFlags(t, s)
	written, alive := 0, 0
	for i, b := range c.slabs {
		written += len(b)
		alive += c.live[i]
	}
	require.Equal(t, [2]int{written, alive}, [2]int{c.written, c.alive})
	spare := slices.Sorted(slices.Values(c.spare))
	var gone []int
	for i, b := range c.slabs {
		if b == nil {
			gone = append(gone, i)
		}
	}
	require.Equal(t, gone, spare, "the numbers of the slabs let go are spare, once each")
	for i, b := range c.slabs {
		if compacted && b != nil && i != c.cur {
			require.GreaterOrEqual(t, 2*c.live[i], cap(b), "slab %d", i)
		}
	}
	return n
}

// requireEntryFlags checks what each session in use says of itself
// against the maps: it is there (not gone), and active exactly when its
// channel key's active session is it; each active session is the entry
// sessions holds under its id, of the key active holds it by (a lease by
// key takes the entry from active); and turnByID indexes exactly the
// turns the sessions in use keep. The caller holds s.mu.
func requireEntryFlags(t *testing.T, s *Store) {
	t.Helper()
	flagged := 0
	for id, e := range s.sessions {
		require.False(t, e.gone, "session %s", id)
		require.Equal(t, s.active[e.key()] == e, e.active, "session %s", id)
		if e.active {
			flagged++
		}
	}
	require.Len(t, s.active, flagged, "every active session is one in use, flagged")
	for k, e := range s.active {
		require.Same(t, s.sessions[e.id()], e, "session %s", e.id())
		require.Equal(t, k, e.key(), "session %s", e.id())
	}
	// A commit finds a turn kept already in its session's turns, not in
	// turnByID: both hold the same turns.
	turns := 0
	for _, e := range s.sessions {
		for _, t1 := range e.turns {
			require.Same(t, t1, s.turnByID[t1.id()], "turn %s", t1.id())
		}
		turns += len(e.turns)
	}
	require.Len(t, s.turnByID, turns, "every turn indexed is one a session in use keeps")
	for id, t1 := range s.turnByID {
		require.True(t, t1.sess.keeps(id, t1.number), "turn %s", id)
		require.False(t, t1.sess.keeps(id, t1.number+1), "turn %s", id)
	}
}

// A store keeping idle sessions cold answers everything as one keeping
// them in place: reads, listings, leases by channel key and by id, keyed
// requests answered, retention's evictions; and compaction keeps every
// surviving session readable. With hashes masked to one value, every key
// but the first of each index clashes with another.
func TestColdSessionsAnswerAsKeptInPlace(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 0} {
		t.Run(fmt.Sprintf("mask=%x", mask), func(t *testing.T) {
			defer func(m uint64) { hashMask = m }(hashMask)
			hashMask = mask
			testColdAnswersAsInPlace(t, rand.New(rand.NewPCG(mask, 11)))
		})
	}
}

func testColdAnswersAsInPlace(t *testing.T, rng *rand.Rand) {
	ttl := 20 * time.Minute
	r := Retention{SessionTTL: ttl, MaxTurns: 6, SweepInterval: time.Minute}
	want, got, cw, cg := inPlaceAndCold(WithRetention(r))
	plan := planSessions(rng, 800)
	applyPlan(t, want, cw, plan)
	applyPlan(t, got, cg, plan)
	require.Positive(t, coldSessions(t, got, false), "commits pack and chill idle sessions")

	// The older half of the sessions expire, most of them cold.
	sweep := func(at time.Time) {
		require.Equal(t, want.Sweep(at), got.Sweep(at))
	}
	at := twinStart.Add(ttl + cw.Now().Sub(twinStart)/2)
	sweep(at)
	coldSessions(t, got, true)
	requireSameReads(t, want, got, plan) // thaws every survivor
	sweep(at.Add(packAfter + time.Second))
	cold := coldSessions(t, got, true)
	require.Positive(t, cold)
	for _, e := range got.sessions {
		// A closed session's snapshot is no turn's: it is never packed.
		require.True(t, e.status == domain.SessionClosed || recordSize(e) > maxRecord, "the open survivors not too big are cold again")
	}

	// Turns on some sessions: found by channel key (a new session where
	// the old one expired or was closed), answered keys refused.
	answered := 0
	for i, p := range plan[:300] {
		// The key of another session's first turn: a newer one, kept, and
		// cold unless closed.
		pt := plannedTurn{id: footprintID(), message: "again", keyed: plan[len(plan)-300+i].turns[0].keyed}
		p.id = footprintID() // a candidate's id, used when one is made
		a, errA := planTurn(want, cw, p, pt)
		b, errB := planTurn(got, cg, p, pt)
		require.Equal(t, fmt.Sprint(a, errA), fmt.Sprint(b, errB))
		var ae *ports.AnsweredError
		if errors.As(errB, &ae) {
			answered++
		}
	}
	require.Positive(t, answered, "keyed requests answered by cold sessions")
	// A turn id another session's kept turn holds is refused, cold or not.
	taken := 0
	for i, p := range plan[300:400] {
		pt := plannedTurn{id: plan[len(plan)-1-i].turns[0].id, message: "a reused id"}
		p.id = footprintID()
		a, errA := planTurn(want, cw, p, pt)
		b, errB := planTurn(got, cg, p, pt)
		require.Equal(t, fmt.Sprint(a, errA), fmt.Sprint(b, errB))
		if domain.IsCode(errB, domain.CodeSessionBusy) {
			taken++
		}
	}
	require.Positive(t, taken, "turn ids of cold sessions refused")
	requireSameReads(t, want, got, plan)
	sweep(at.Add(ttl + packAfter + time.Second))
	require.Zero(t, coldSessions(t, got, true), "every session expired")
	require.Equal(t, listings(t, want), listings(t, got))
}

// packedInPlace is a store of 300 planned sessions (at most 6 turns
// kept each), packed where they are, none gone cold.
func packedInPlace(t *testing.T, rng *rand.Rand) (*Store, []plannedSession) {
	t.Helper()
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 6}))
	s.coldOff = true
	plan := planSessions(rng, 300)
	applyPlan(t, s, c, plan)
	s.Sweep(c.Now().Add(packAfter + time.Second))
	return s, plan
}

// A record read back is the entry it was made of: every turn's kept
// strings, number and flags, the entry's names, ids, status and times.
func TestColdRecordReadsBackAsItsEntry(t *testing.T) {
	s, plan := packedInPlace(t, rand.New(rand.NewPCG(3, 4)))
	var cold coldStore
	cold.cur = -1
	for _, p := range plan {
		e := s.sessions[p.id]
		if e.snap != nil {
			continue // closed: a snapshot of its own, kept live
		}
		active := s.active[e.key()] == e
		cold.put(e, recordSize(e), active, nil)
		h, ok := cold.findID(p.id)
		require.True(t, ok)
		r := cold.record(h)
		require.Equal(t, active, r.active())
		back := cold.entry(r)
		require.Equal(t, e.names, back.names)
		require.Equal(t, [4]any{e.ids, e.idLen, e.status, e.created}, [4]any{back.ids, back.idLen, back.status, back.created})
		require.Equal(t, e.touched, back.touched)
		require.Len(t, back.turns, len(e.turns))
		for i, bt := range back.turns {
			et := *e.turns[i]
			et.sess, et.liveAfter, bt.sess = nil, nil, nil
			require.Equal(t, et, *bt, "turn %d", i)
		}
	}
}

// A record given its newest turn's SessionAfter compressed, as packing a
// session going cold does, is byte for byte the record of the turn holding
// it, and exactly as long as chillAfter counts; at any offset of a slab
// with room for it or without.
func TestRecordCompressesTheNewestAfterAsTheTurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s, plan := packedInPlace(t, rng)
	checked := 0
	for _, p := range plan {
		e := s.sessions[p.id]
		if e.snap != nil {
			continue // closed: a snapshot of its own, kept live
		}
		active := rng.IntN(2) == 0
		want := appendRecord(nil, e, 7, 3, active, nil)
		newest := e.turns[len(e.turns)-1]
		kept := newest.after
		raw, err := s2.Decode(nil, []byte(kept))
		require.NoError(t, err)
		newest.after = ""
		prefix := []byte(randomText(rng, rng.IntN(100)))
		b := make([]byte, len(prefix), len(prefix)+rng.IntN(2*len(want)))
		copy(b, prefix)
		var enc encoder
		compressed := enc.compress(raw)
		got := appendRecord(b, e, 7, 3, active, compressed)
		require.Equal(t, len(want), recordSize(e)+len(compressed), "the room chillAfter asks for")
		newest.after = kept
		require.Equal(t, string(prefix), string(got[:len(prefix)]))
		require.Equal(t, string(want), string(got[len(prefix):]), "session %s", p.id)
		checked++
	}
	require.Greater(t, checked, 200)
}

// A hash clash between cold sessions' keys leaves each found by its own
// key, and dropping the one holding the hash leaves the other found.
func TestColdIndexClashes(t *testing.T) {
	var x coldIndex
	keys := []string{"a", "b", "c", "d"}
	for i, k := range keys {
		x.add(7, k, uint32(i))
	}
	owner := func(k string) func(uint32) bool {
		return func(h uint32) bool { return keys[h] == k }
	}
	find := func(k string) (uint32, bool) {
		if h, ok := x.find(7, owner(k)); ok {
			return h, true
		}
		return x.findClash(k)
	}
	for i, k := range keys {
		h, ok := find(k)
		require.True(t, ok, k)
		require.Equal(t, uint32(i), h, k)
	}
	x.remove(7, "a", 0)
	x.remove(7, "c", 2)
	for i, k := range keys {
		h, ok := find(k)
		require.Equal(t, i%2 == 1, ok, k)
		if ok {
			require.Equal(t, uint32(i), h, k)
		}
	}
	x.remove(7, "b", 1)
	x.remove(7, "d", 3)
	require.Empty(t, x.byHash)
	require.Nil(t, x.clash)
	_, ok := find("b")
	require.False(t, ok)
}

// Turns, reads, sweeps, the idle worker and the clock running
// concurrently move sessions cold and back without losing or reordering a
// turn: each user's turns are numbered on from the last, and every kept
// turn reads back.
func TestColdSessionsUnderConcurrentTurns(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{SessionTTL: time.Hour, MaxTurns: 5, SweepInterval: time.Minute}))
	idle := s.StartIdleWork()
	const workers, users, rounds = 4, 40, 150
	var done sync.WaitGroup
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				s.Sweep(c.Now())
			}
		}
	}()
	turnIDs := make([][]string, workers*users)
	for w := range workers {
		done.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				u := w*users + rng.IntN(users)
				p := plannedSession{key: domain.ChannelKey{TenantID: "t0", AgentID: "a0", Channel: "web", UserChannelID: fmt.Sprint("u", u)},
					id: footprintID()}
				pt := plannedTurn{id: footprintID(), message: "hello"}
				// 600 s in all, less than the TTL: no session expires.
				c.Advance(time.Second)
				leased, err := planTurn(s, c, p, pt)
				if !assert.NoError(t, err) {
					return
				}
				if !assert.True(t, strings.HasPrefix(leased, fmt.Sprintf("[%d,", len(turnIDs[u])+1)), "user %d: %s", u, leased) {
					return
				}
				turnIDs[u] = append(turnIDs[u], pt.id)
				_, err = s.GetTurn(context.Background(), "t0", turnIDs[u][rng.IntN(len(turnIDs[u]))])
				if n := len(turnIDs[u]); err != nil && n <= 5 {
					assert.NoError(t, err, "user %d", u)
				}
			}
		})
	}
	done.Wait()
	close(stop)
	<-swept
	idle.Stop() // the checks below read the store between holds of its lock
	s.Sweep(c.Now().Add(packAfter + time.Second))
	require.Positive(t, coldSessions(t, s, true))
	for u, ids := range turnIDs {
		if len(ids) == 0 {
			continue
		}
		l, err := s.LockSession(context.Background(), ports.LockRequest{TenantID: "t0", Candidate: domain.NewSession(footprintID(),
			domain.ChannelKey{TenantID: "t0", AgentID: "a0", Channel: "web", UserChannelID: fmt.Sprint("u", u)}, c.Now()), History: 5,
			Wait: time.Second, TTL: time.Minute})
		require.NoError(t, err)
		require.False(t, l.Created())
		require.Equal(t, len(ids)+1, l.Token().TurnNumber)
		history := l.History()
		require.NoError(t, l.Release(context.Background()))
		kept := ids[max(0, len(ids)-5):]
		require.Len(t, history, len(kept))
		for i, id := range kept {
			turn, err := s.GetTurn(context.Background(), "t0", id)
			require.NoError(t, err)
			require.Equal(t, history[i].TurnNumber, turn.TurnNumber)
		}
	}
}

// A new session's first turn is kept in its entry; once retention drops
// it, the entry lets its strings go, and the turns kept read as before.
func TestFirstTurnKeptInEntry(t *testing.T) {
	ctx := context.Background()
	s := New(clock.System{}, WithRetention(Retention{MaxTurns: 2}))
	sess := committedSession(t, s, 1)
	s.mu.Lock()
	e := s.sessions[sess.ID]
	require.Same(t, &e.firstTurn, e.turns[0])
	s.mu.Unlock()
	second, third := commitRich(t, s, sess), commitRich(t, s, sess)
	s.mu.Lock()
	require.Zero(t, e.firstTurn)
	require.Len(t, e.turns, 2)
	s.mu.Unlock()
	page, err := s.ListTurns(ctx, sess.TenantID, sess.ID, ports.TurnQuery{})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.Equal(t, []string{second.ID, third.ID}, []string{page.Items[0].ID, page.Items[1].ID})
	_, err = s.GetTurn(ctx, sess.TenantID, fmt.Sprint(sess.ID, "-1"))
	requireCode(t, err, domain.CodeTurnNotFound)
}

// Without sweeps, sessions going cold and coming back again and again,
// half of them each time, leave the slabs at most about twice what they
// hold, and every session reads as in a store keeping them in place.
func TestColdSlabsStayCompactWithoutSweeps(t *testing.T) {
	want, got, cw, cg := inPlaceAndCold()
	rng := rand.New(rand.NewPCG(5, 6))
	plan := planSessions(rng, 600)
	for i := range plan {
		plan[i].gap, plan[i].closed = 0, false
	}
	round := plan
	for r := range 10 {
		applyPlan(t, want, cw, round)
		applyPlan(t, got, cg, round)
		cw.Advance(packAfter + time.Second)
		cg.Advance(packAfter + time.Second)
		coldSessions(t, got, false)
		c := &got.cold
		require.LessOrEqual(t, c.written-c.alive, c.alive+2*slabSize+maxRecord, "round %d", r)
		// Half the users come back, each with a turn.
		round = nil
		for i := range plan {
			if rng.IntN(2) == 0 {
				plan[i].turns = append(plan[i].turns, plannedTurn{id: footprintID(), message: plan[i].turns[0].message})
				back := plan[i]
				back.turns = back.turns[len(back.turns)-1:]
				round = append(round, back)
			}
		}
	}
	requireSameReads(t, want, got, plan)
}

// Compacting a slab a part at a time, with sessions thawing (their
// records dead) and going cold again between the parts, keeps the slabs'
// accounting true after every part, ends as compact as moving slabs whole,
// and every session reads as in a store keeping them in place.
func TestColdSlabsCompactInParts(t *testing.T) {
	want, got, cw, cg := inPlaceAndCold()
	rng := rand.New(rand.NewPCG(9, 10))
	plan := planSessions(rng, 800)
	applyPlan(t, want, cw, plan)
	applyPlan(t, got, cg, plan)
	got.Sweep(cg.Now().Add(packAfter + time.Second))
	c := &got.cold
	thawSome := func(n int) {
		for range n {
			if h := rng.IntN(len(c.slots)); c.slots[h] != 0 {
				got.thaw(uint32(h))
			}
		}
	}
	thawSome(3 * len(c.slots))
	require.True(t, c.compactable(), "thawed sessions left the slabs mostly dead")
	paused, reused := 0, false
	for c.compactPart(4 << 10) {
		if c.moving.base != nil {
			paused++
		}
		if paused == 1 && !reused {
			reused = reuseMovingSlab(got)
			require.True(t, reused, "the slab being moved was let go and its number reused")
		}
		switch rng.IntN(4) {
		case 0:
			thawSome(1)
		case 1:
			for _, e := range got.sessions {
				if e.snap == nil {
					got.chill(e)
					break
				}
			}
		}
		coldSessions(t, got, false)
	}
	require.Positive(t, paused, "slabs were moved in parts")
	require.False(t, c.compactable())
	require.LessOrEqual(t, c.written-c.alive, c.alive+2*slabSize)
	coldSessions(t, got, false)
	requireSameReads(t, want, got, plan)
}

// A session whose record takes more than a quarter of a slab gets a slab
// of its own, just its size, and the slab being filled stays the one being filled: the
// small records packed after it go on filling it; compaction never picks
// its slab, which has nothing to free. Once the large record is dead its
// slab is let go, and the next slab made takes its number.
func TestRecordsLargerThanASlabTakeOneOfTheirOwn(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 200}))
	small := newGrowingSession(t, s, "small")
	commitNext(t, s, small, false)
	big := newGrowingSession(t, s, "big")
	for range 120 {
		commitNext(t, s, big, true)
	}
	other := newGrowingSession(t, s, "other")
	commitNext(t, s, other, false)
	cold := &s.cold
	chill := func(id string) (slab, size int) {
		t.Helper()
		e := s.sessions[id]
		require.NotNil(t, e, id)
		if e.snap != nil {
			require.Positive(t, s.packOne(e, &encoder{}), "%s went cold", id)
		} else {
			require.Positive(t, s.chill(e), "%s went cold", id)
		}
		h, ok := cold.findID(id)
		require.True(t, ok, id)
		slab, _ = unplace(cold.slots[h])
		return slab, len(cold.record(h))
	}
	first, _ := chill(small.ID)
	slab, size := chill(big.ID)
	require.Greater(t, size, slabSize/4, "the big session's record")
	require.NotEqual(t, first, slab)
	require.Equal(t, [2]int{size, size}, [2]int{len(cold.slabs[slab]), cold.live[slab]}, "a slab holding only it")
	require.Equal(t, size, cap(cold.slabs[slab]), "sized to it")
	next, _ := chill(other.ID)
	require.Equal(t, first, next, "the slab being filled took the next record")
	require.Equal(t, first, cold.cur)
	require.Equal(t, 3, coldSessions(t, s, false))
	require.Equal(t, -1, cold.emptiest(), "a slab all live is never one to empty: moving it frees nothing")

	h, _ := cold.findID(big.ID)
	s.thaw(h)
	require.Nil(t, cold.slabs[slab], "its slab let go with its record")
	require.Equal(t, 2, coldSessions(t, s, false))
	require.Equal(t, slab, cold.newSlab(slabSize), "its number made spare")
	require.Equal(t, 2, coldSessions(t, s, false))
}

// reuseMovingSlab thaws every other session whose record is in the slab
// being moved, and moves the rest whole (as Sweep's compaction does),
// which lets the slab go; then it chills sessions until a new slab takes
// its number. It reports whether one did.
func reuseMovingSlab(s *Store) bool {
	c := &s.cold
	i := c.moving.slab
	for h, p := range c.slots {
		if slab, _ := unplace(p); p != 0 && slab == i && h%2 == 0 {
			s.thaw(uint32(h))
		}
	}
	if c.slabs[i] != nil {
		c.move(i)
	}
	for _, e := range s.sessions {
		if c.slabs[i] != nil {
			return true
		}
		if e.snap == nil {
			s.chill(e)
		}
	}
	return c.slabs[i] != nil
}

// inPlaceAndCold returns two stores made with opts, each on a fake clock
// of its own at twinStart: want keeps idle sessions packed in place, the
// reference for got, which lets them go cold.
func inPlaceAndCold(opts ...Option) (want, got *Store, cw, cg clock.Fake) {
	cw, cg = clock.Fake{FakeClock: clockwork.NewFakeClockAt(twinStart)}, clock.Fake{FakeClock: clockwork.NewFakeClockAt(twinStart)}
	want, got = New(cw, opts...), New(cg, opts...)
	want.coldOff = true
	return want, got, cw, cg
}

// twinStart is when inPlaceAndCold's clocks start.
var twinStart = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
