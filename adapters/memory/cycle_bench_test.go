package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// BenchmarkLockCommitCycle is the store's share of the bench's
// returning-user mix, one turn an op: 7 turns of 10 lease the session of
// one of cycleUsers returning users (seeded with cycleSeedTurns turns
// each) by channel key, 3 open a new user's session, and each then reads
// the lease's session and history, commits a recorded 100-rule turn and
// releases the lease, as the chat path does. Run it with -benchtime Nx
// (some 10,000): returning users' sessions keep their turns, as the
// service's do, so what a turn costs moves with how many came before. The request's names are decoded afresh, as the
// HTTP layer's are, and the store's clock moves on 100 µs a turn (some
// 10,000 turns a second), so that new users' sessions go idle and the
// idle worker packs them, as in the service.
//
// It reports the store's own time, its calls timed alone (store-ns/op,
// and store-p50-ns, the median, which a host busy with other work moves
// less), and the medians of its two parts: the lease with the session and
// history read (lock-p50-ns), the commit and release (commit-p50-ns).
// ns/op counts the session's changes too, the domain's work.
// cold=true reads a buffer larger than the last-level cache before each
// turn (see evictCaches), as the turn finds the caches under load; ns/op
// then counts the eviction too and means little.
func BenchmarkLockCommitCycle(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) { benchLockCommitCycle(b, cold) })
	}
}

// cycleUsers is how many returning users BenchmarkLockCommitCycle seeds,
// and cycleSeedTurns their turns, as the bench seeds them.
const (
	cycleUsers     = 500
	cycleSeedTurns = domain.DefaultHistoryTurns
)

func benchLockCommitCycle(b *testing.B, cold bool) {
	c := newCycle(b)
	defer c.s.StartIdleWork().Stop() // as bootstrap runs it
	for u := range cycleUsers {
		for i := range cycleSeedTurns {
			c.turn(fmt.Sprint("ret-", u), i)
		}
	}
	var evict []byte
	if cold {
		evict = make([]byte, coldCacheBytes)
	}
	var times cycleTimes
	var sink byte
	b.ReportAllocs()
	b.ResetTimer()
	returning := 0
	for i := 0; b.Loop(); i++ {
		user := ""
		if i%10 < 7 {
			returning++
			user = fmt.Sprint("ret-", returning%cycleUsers)
		} else {
			user = fmt.Sprint("new-", i)
		}
		if cold {
			sink += evictCaches(evict)
		}
		times.add(c.turn(user, i))
	}
	times.report(b)
	if cold {
		evict[0] = sink
	}
}

// cycle is a store BenchmarkLockCommitCycle's turns go to, on a clock of
// its own, and the recorded turns they commit.
type cycle struct {
	b        testing.TB
	s        *Store
	clock    clock.Fake
	recorded [5]*domain.Turn
	// others are rules each turn fires besides its matched ones, so that
	// a session ends with 10 to 15 fires (see BenchmarkCommitRecordedTurn).
	others [15]string
	// step is how far the clock moves on after each turn.
	step time.Duration
}

func newCycle(b testing.TB) *cycle {
	c := &cycle{b: b, clock: clock.NewFake(), step: 100 * time.Microsecond}
	c.s = New(c.clock, WithRetention(Retention{MaxTurns: 1000}))
	for i := range c.recorded {
		c.recorded[i] = recordedTurn(b, i)
	}
	for i := range c.others {
		c.others[i] = fmt.Sprintf("r%05d_rule", i)
	}
	return c
}

// turn is the i-th turn, of user, as the chat path takes it, and how long
// the store's calls took: the lease with its session and history, then
// the commit and the release. What the session's changes cost in between
// is the domain's.
func (c *cycle) turn(user string, i int) (lock, commit time.Duration) {
	lock, commit, err := c.try(user, i)
	if err != nil {
		c.b.Fatal(err)
	}
	return lock, commit
}

// try is turn, returning its error: for goroutines other than the
// benchmark's, which must not call Fatal.
func (c *cycle) try(user string, i int) (lock, commit time.Duration, err error) {
	ctx := context.Background()
	start := time.Now()
	req := ports.LockRequest{TenantID: strings.Clone("t"), History: 10, Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { return footprintID(), nil }, Opened: c.clock.Now(),
		Key: domain.ChannelKey{TenantID: strings.Clone("t"), AgentID: strings.Clone("a"), Channel: strings.Clone("bench"), UserChannelID: user}}
	l, err := c.s.LockSession(ctx, req)
	if err != nil {
		return 0, 0, err
	}
	tok, after := l.Token(), l.Session()
	_ = l.History()
	lock = time.Since(start)
	t := *c.recorded[i%len(c.recorded)]
	for _, m := range t.Explanation.Matched {
		after.RecordFire(m.RuleID, tok.TurnNumber)
	}
	after.RecordFire(c.others[i%len(c.others)], tok.TurnNumber)
	if d := t.Explanation.Scenario; d.Action == domain.ScenarioStart || d.Action == domain.ScenarioAdvance {
		after.EnterStep(d.After.ID, d.After.Step, tok.TurnNumber) // as the engine does
	}
	after.AdvanceTurn(tok.TurnNumber, c.clock.Now())
	t.ID, t.TenantID, t.AgentID, t.SessionID, t.TurnNumber, t.CreatedAt, t.SessionAfter = footprintID(), "t", "a", after.ID, tok.TurnNumber, c.clock.Now(), after
	start = time.Now()
	if err := c.s.CommitTurn(ctx, tok, &t); err != nil {
		return 0, 0, err
	}
	_ = l.Release(ctx)
	commit = time.Since(start)
	c.clock.Advance(c.step)
	return lock, commit, nil
}

// cycleTimes sums the store's time over the turns and keeps the last few
// thousand turns' times, the whole turn's and its two parts', for their
// medians.
type cycleTimes struct {
	store   time.Duration
	n       int
	samples [3][]time.Duration
}

func (t *cycleTimes) add(lock, commit time.Duration) {
	t.store += lock + commit
	for k, took := range [...]time.Duration{lock + commit, lock, commit} {
		if len(t.samples[k]) < 1<<12 {
			t.samples[k] = append(t.samples[k], took)
		} else {
			t.samples[k][t.n%len(t.samples[k])] = took
		}
	}
	t.n++
}

func (t *cycleTimes) report(b *testing.B) {
	b.ReportMetric(float64(t.store.Nanoseconds())/float64(b.N), "store-ns/op")
	for k, name := range [...]string{"store-p50-ns", "lock-p50-ns", "commit-p50-ns"} {
		slices.Sort(t.samples[k])
		b.ReportMetric(float64(t.samples[k][len(t.samples[k])/2].Nanoseconds()), name)
	}
}

// coldCacheBytes is the buffer BenchmarkLockCommitCycle reads to evict
// the caches: past the last-level cache a core gets here (see
// domain.BenchmarkScoreMessageCold).
const coldCacheBytes = 16 << 20

// evictCaches reads a byte of each 64-byte line of buf, and returns their
// sum so that the reads are kept.
//
//go:noinline
func evictCaches(buf []byte) byte {
	var sum byte
	for k := 0; k < len(buf); k += 64 {
		sum += buf[k]
	}
	return sum
}
