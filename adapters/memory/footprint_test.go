package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// benchTurnsJSON are five turns the 100-rule bench agent (test/load
// bundle) recorded for one user, as GET /v1/sessions/{id}/turns listed
// them: up to 20 scored candidates with their nearest examples and terms,
// a scenario started and stayed in, step timings.
var benchTurnsJSON = sync.OnceValue(func() []json.RawMessage {
	data, err := os.ReadFile("testdata/bench-turns.json")
	if err != nil {
		panic(err)
	}
	var turns []json.RawMessage
	if err := json.Unmarshal(data, &turns); err != nil {
		panic(err)
	}
	return turns
})

// recordedTurn decodes the i-th recorded turn afresh, so every call owns
// all of its allocations as a turn the engine built would.
func recordedTurn(tb testing.TB, i int) *domain.Turn {
	all := benchTurnsJSON()
	var t domain.Turn
	require.NoError(tb, json.Unmarshal(all[i%len(all)], &t))
	t.SessionAfter = nil
	return &t
}

// footprintIDs numbers the ids of footprint sessions and turns, which have
// the length of the service's (UUIDs). Atomic, not a mutex: the contended
// benchmark's turns take ids from several goroutines at once, and a lock
// of its own there would be contention the store does not have.
var footprintIDs atomic.Int64

func footprintID() string {
	n := footprintIDs.Add(1)
	return fmt.Sprintf("01a241db-%04x-7000-8000-%012x", n>>48, n)
}

// commitRecorded gives each of users users turns recorded turns through
// the lease by channel key, as the chat path does: the session after each
// turn records the fires of its matched rules and the scenario step it
// ended in.
func commitRecorded(tb testing.TB, s *Store, users, turns int) {
	ctx := context.Background()
	for u := range users {
		// Each request decodes its own copy of the tenant, agent and
		// channel names, as the HTTP layer does.
		key := domain.ChannelKey{TenantID: strings.Clone("550e8400-e29b-41d4-a716-446655440000"),
			AgentID: strings.Clone("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), Channel: strings.Clone("bench"), UserChannelID: fmt.Sprint("user-", u)}
		req := ports.LockRequest{TenantID: key.TenantID, Candidate: domain.NewSession(footprintID(), key, time.Now()),
			History: 10, Wait: time.Second, TTL: time.Minute}
		for range turns {
			l, err := s.LockSession(ctx, req)
			require.NoError(tb, err)
			tok := l.Token()
			turn := recordedTurn(tb, tok.TurnNumber-1)
			after := l.Session()
			for _, m := range turn.Explanation.Matched {
				after.RecordFire(m.RuleID, tok.TurnNumber)
			}
			if at := turn.Explanation.Scenario.After; at != nil {
				after.EnterStep(at.ID, at.Step, tok.TurnNumber)
			}
			now := time.Now()
			after.AdvanceTurn(tok.TurnNumber, now)
			turn.ID, turn.SessionID, turn.TurnNumber, turn.CreatedAt, turn.SessionAfter = footprintID(), after.ID, tok.TurnNumber, now, after
			require.NoError(tb, s.CommitTurn(ctx, tok, turn))
			require.NoError(tb, l.Release(ctx))
		}
	}
}

// heapFigures are the live heap, its scannable part and its objects, as
// the last collection found them, and the CPU time that collection took.
type heapFigures struct{ live, scan, objects, gcCPU float64 }

func readHeap() heapFigures {
	runtime.GC()
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}, {Name: "/gc/heap/objects:objects"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(m)
	cpu := m[3].Value.Float64()
	runtime.GC()
	metrics.Read(m)
	return heapFigures{live: float64(m[0].Value.Uint64()), scan: float64(m[1].Value.Uint64()), objects: float64(m[2].Value.Uint64()),
		gcCPU: m[3].Value.Float64() - cpu}
}

// keptPerTurn is what a store keeps for each of users×turns committed
// recorded turns, sessions included, per turn; with idle, once the
// sessions have been unused long enough to be packed.
func keptPerTurn(tb testing.TB, users, turns int, idle bool) heapFigures {
	before := readHeap()
	// The store's clock stands still while the turns commit, so no session
	// is packed before the figures say so.
	c := clock.NewFake()
	s := New(c)
	commitRecorded(tb, s, users, turns)
	if idle {
		s.Sweep(c.Now().Add(packAfter + time.Second))
	}
	after := readHeap()
	runtime.KeepAlive(s)
	n := float64(users * turns)
	return heapFigures{live: (after.live - before.live) / n, scan: (after.scan - before.scan) / n, objects: (after.objects - before.objects) / n,
		gcCPU: (after.gcCPU - before.gcCPU) / n}
}

// BenchmarkKeptFootprint reports the heap a store keeps per committed turn
// (returning users: sessions of 20 turns, as in the soak) and per new
// user's session (one turn each, as in a new-user run), while the sessions
// are in use and once they are idle (packed): live bytes, scannable bytes
// (what each collection must scan), objects, and the CPU time a full
// collection spends on them (ns per turn or session, a runtime estimate).
func BenchmarkKeptFootprint(b *testing.B) {
	for _, c := range []struct {
		name         string
		users, turns int
		unit         string
	}{{"returning-20-turns", 5000, 20, "turn"}, {"new-users-1-turn", 50000, 1, "session"}} {
		for _, idle := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/idle=%v", c.name, idle), func(b *testing.B) {
				var f heapFigures
				for b.Loop() {
					f = keptPerTurn(b, c.users, c.turns, idle)
				}
				b.ReportMetric(f.live, "live-B/"+c.unit)
				b.ReportMetric(f.scan, "scan-B/"+c.unit)
				b.ReportMetric(f.objects, "objects/"+c.unit)
				b.ReportMetric(f.gcCPU*1e9, "gc-cpu-ns/"+c.unit)
			})
		}
	}
}

// BenchmarkCommitRecordedTurn is the store's share of a returning user's
// turn: the lease by channel key with the prompt's history, the commit of
// a recorded 100-rule turn (up to 20 candidates) and its session, the
// release. Users have 20 turns each, as in the soak, and the store keeps
// 20; each turn fires its matched rules and one of 15 others, so that a
// session ends with the 10 to 15 rule fires the soak's returning users
// reach.
func BenchmarkCommitRecordedTurn(b *testing.B) {
	ctx := context.Background()
	s := New(clock.System{}, WithRetention(Retention{MaxTurns: 20}))
	var recorded [5]*domain.Turn
	for i := range recorded {
		recorded[i] = recordedTurn(b, i)
	}
	var others [15]string
	for i := range others {
		others[i] = fmt.Sprintf("r%05d_rule", i)
	}
	var req ports.LockRequest
	for i := 0; b.Loop(); i++ {
		if i%20 == 0 {
			key := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "bench", UserChannelID: fmt.Sprint("user-", i)}
			req = ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(footprintID(), key, time.Now()), History: 10,
				Wait: time.Second, TTL: time.Minute}
		}
		l, err := s.LockSession(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		tok := l.Token()
		turn := *recorded[i%len(recorded)]
		after := l.Session()
		for _, m := range turn.Explanation.Matched {
			after.RecordFire(m.RuleID, tok.TurnNumber)
		}
		after.RecordFire(others[i%len(others)], tok.TurnNumber)
		after.EnterStep("card_delivery", "track", tok.TurnNumber)
		after.AdvanceTurn(tok.TurnNumber, time.Now())
		// A turn is of its session's agent, as the service's are.
		turn.ID, turn.TenantID, turn.AgentID, turn.SessionID, turn.TurnNumber, turn.SessionAfter = footprintID(), "t", "a", after.ID, tok.TurnNumber, after
		if err := s.CommitTurn(ctx, tok, &turn); err != nil {
			b.Fatal(err)
		}
		_ = l.Release(ctx)
	}
}

// BenchmarkNewUserTurns is the store's share of new users' turns at a
// steady rate, one a millisecond: each leases a new session by channel
// key and commits a recorded 100-rule turn on it, and from the 5000th on
// each commit also packs the session of the turn packAfter before. It
// reports the collector's CPU time per turn too (a runtime estimate, which
// grows with what the store keeps).
func BenchmarkNewUserTurns(b *testing.B) {
	ctx := context.Background()
	c := clock.NewFake()
	s := New(c)
	recorded := recordedTurn(b, 0)
	gcCPU := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gcCPU)
	before := gcCPU[0].Value.Float64()
	defer func() {
		metrics.Read(gcCPU)
		b.ReportMetric((gcCPU[0].Value.Float64()-before)*1e9/float64(b.N), "gc-cpu-ns/op")
	}()
	for i := 0; b.Loop(); i++ {
		c.Advance(time.Millisecond)
		key := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "bench", UserChannelID: fmt.Sprint("user-", i)}
		l, err := s.LockSession(ctx, ports.LockRequest{TenantID: "t", Candidate: domain.NewSession(footprintID(), key, c.Now()),
			History: 10, Wait: time.Second, TTL: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		tok, turn, after := l.Token(), *recorded, l.Session()
		for _, m := range turn.Explanation.Matched {
			after.RecordFire(m.RuleID, tok.TurnNumber)
		}
		after.AdvanceTurn(tok.TurnNumber, c.Now())
		turn.ID, turn.TenantID, turn.AgentID, turn.SessionID, turn.TurnNumber, turn.SessionAfter = footprintID(), "t", "a", after.ID, tok.TurnNumber, after
		if err := s.CommitTurn(ctx, tok, &turn); err != nil {
			b.Fatal(err)
		}
		_ = l.Release(ctx)
	}
}
