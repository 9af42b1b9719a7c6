package application

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestNewTurnIDIsAV7UUIDAsTheLibraryMakesIt compares newTurnID with
// uuid.NewV7, which it replaced: the same version, variant and text form,
// a timestamp that the uuid package reads back as the time it was made,
// and ids that follow one another.
func TestNewTurnIDIsAV7UUIDAsTheLibraryMakesIt(t *testing.T) {
	ref, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for range 10000 {
		before := time.Now().Truncate(time.Millisecond)
		id := newTurnID()
		after := time.Now()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if u.Version() != ref.Version() || u.Variant() != ref.Variant() || len(id) != len(ref.String()) || u.String() != id {
			t.Fatalf("%q: version %d variant %v, the library's %q: version %d variant %v", id, u.Version(), u.Variant(), ref, ref.Version(), ref.Variant())
		}
		// Ids made within one millisecond run past it by one step each.
		sec, nsec := u.Time().UnixTime()
		at := time.Unix(sec, nsec)
		if at.Before(before) || at.After(after.Add(time.Millisecond)) {
			t.Fatalf("%q: stamped %v, made between %v and %v", id, at, before, after)
		}
		if id <= prev {
			t.Fatalf("%q does not follow %q", id, prev)
		}
		prev = id
	}
}

// TestNewTurnIDIsUniqueAcrossGoroutines makes ids on several goroutines
// at once: no two are alike, and each goroutine's follow one another.
func TestNewTurnIDIsUniqueAcrossGoroutines(t *testing.T) {
	const workers, each = 4, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], newTurnID())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, list := range ids {
		for i, id := range list {
			if seen[id] {
				t.Fatalf("%q made twice", id)
			}
			seen[id] = true
			if i > 0 && id <= list[i-1] {
				t.Fatalf("%q does not follow %q", id, list[i-1])
			}
		}
	}
}

// TestNextV7StampFollowsTheLastOne: a clock that stands still or goes
// back still gives stamps past the last one.
func TestNextV7StampFollowsTheLastOne(t *testing.T) {
	var last atomic.Int64
	nano := time.Now().UnixNano()
	first := nextV7Stamp(&last, nano)
	ms := nano / int64(time.Millisecond)
	if want := ms<<12 + (nano-ms*int64(time.Millisecond))>>8; first != want {
		t.Fatalf("stamp %x, want %x", first, want)
	}
	if got := nextV7Stamp(&last, nano); got != first+1 {
		t.Fatalf("same instant: stamp %x, want %x", got, first+1)
	}
	if got := nextV7Stamp(&last, nano-int64(time.Second)); got != first+2 {
		t.Fatalf("clock went back: stamp %x, want %x", got, first+2)
	}
}
