package memory

import (
	"testing"
	"time"

	"focal/adapters/clock"
)

// BenchmarkThawReturningUser is the store's work, under its lock, when a
// returning user's cold session of 20 recorded turns comes back (thaw),
// and when it goes cold again (chill). thawMeasured is the callgrind
// --toggle-collect target.
func BenchmarkThawReturningUser(b *testing.B) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 20}))
	commitRecorded(b, s, 1, 20)
	s.Sweep(c.Now().Add(packAfter + time.Second))
	if len(s.sessions) != 0 {
		b.Fatal("the session is not cold")
	}
	var id string
	for h := range s.cold.slots {
		if s.cold.slots[h] != 0 {
			id = s.cold.record(uint32(h)).id()
		}
	}
	b.ReportMetric(float64(s.cold.alive), "record-B")
	for b.Loop() {
		s.mu.Lock()
		h, _ := s.cold.findID(id)
		e := thawMeasured(s, h)
		s.chill(e)
		s.mu.Unlock()
	}
}

//go:noinline
func thawMeasured(s *Store, h uint32) *sessionEntry { return s.thaw(h) }
