package memory

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
)

// A thaw takes over a record alone in its slab (a returning user's, of
// more than a quarter of a slab) instead of copying it: the thawed turns
// view the slab's bytes, and the slab is let go. A record sharing its
// slab with others is copied, so that it holds none of theirs. Either
// way the session reads back and takes its next turn as before.
func TestThawTakesOverARecordAloneInItsSlab(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 20}))
	commitRecorded(t, s, 4, 1)  // user-3 stays a new user: a record of a few KB, in a shared slab
	commitRecorded(t, s, 3, 19) // returning users: records of about 44 KB
	s.Sweep(c.Now().Add(packAfter + time.Second))
	require.Empty(t, s.sessions, "every session is cold")

	s.mu.Lock()
	var big, small uint32
	var bigSlab []byte
	for h := range s.cold.slots {
		if s.cold.slots[h] == 0 {
			continue
		}
		r := s.cold.record(uint32(h))
		if slab, _ := unplace(s.cold.slots[h]); r.turnCount() == 20 {
			big, bigSlab = uint32(h), s.cold.slabs[slab]
		} else {
			small = uint32(h)
		}
	}
	smallSlab, _ := unplace(s.cold.slots[small])
	require.True(t, s.cold.alone(big, s.cold.record(big)), "a returning user's record has a slab of its own")
	require.False(t, s.cold.alone(small, s.cold.record(small)), "a new user's shares the slab being filled")

	bigEntry := s.thaw(big)
	within := func(str string, slab []byte) bool {
		p, start := uintptr(unsafe.Pointer(unsafe.StringData(str))), uintptr(unsafe.Pointer(unsafe.SliceData(slab)))
		return p >= start && p < start+uintptr(cap(slab))
	}
	for _, tn := range bigEntry.turns {
		require.True(t, within(tn.text, bigSlab), "turn %d views the slab taken over", tn.number)
	}
	slabOfSmall := s.cold.slabs[smallSlab]
	smallEntry := s.thaw(small)
	require.False(t, within(smallEntry.turns[0].text, slabOfSmall), "a shared slab's record is copied")
	ids := [2]string{bigEntry.id(), smallEntry.id()}
	turnIDs := map[string]int{}
	for _, e := range []*sessionEntry{bigEntry, smallEntry} {
		for _, tn := range e.turns {
			turnIDs[tn.id()] = tn.number
		}
	}
	s.mu.Unlock()

	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	for _, id := range ids {
		got, err := s.GetSession(context.Background(), tenant, id)
		require.NoError(t, err)
		require.Equal(t, domain.SessionActive, got.Status)
	}
	for id, number := range turnIDs {
		turn, err := s.GetTurn(context.Background(), tenant, id)
		require.NoError(t, err)
		require.Equal(t, number, turn.TurnNumber)
		require.NotNil(t, turn.Explanation, "the audit record reads back")
	}
	commitRecorded(t, s, 3, 1) // their next turns
}

// A record that begins a shared slab, the slab filled and no longer the
// one being filled, is copied too: taking it over would keep the whole
// slab, its other sessions' records included, alive as long as the
// thawed session is.
func TestThawCopiesTheFirstRecordOfASharedSlab(t *testing.T) {
	c := clock.NewFake()
	s := New(c, WithRetention(Retention{MaxTurns: 20}))
	commitRecorded(t, s, 60, 1) // new users' records of a few KB: more than one shared slab
	s.Sweep(c.Now().Add(packAfter + time.Second))
	require.Empty(t, s.sessions, "every session is cold")

	s.mu.Lock()
	defer s.mu.Unlock()
	first, found := uint32(0), false
	for h := range s.cold.slots {
		if slab, off := unplace(s.cold.slots[h]); s.cold.slots[h] != 0 && off == 0 && slab != s.cold.cur {
			first, found = uint32(h), true
			break
		}
	}
	require.True(t, found, "a full shared slab begins with a record")
	slab, _ := unplace(s.cold.slots[first])
	shared := s.cold.slabs[slab]
	require.Greater(t, len(shared), len(s.cold.record(first)), "the slab holds other records")
	require.False(t, s.cold.alone(first, s.cold.record(first)))

	e := s.thaw(first)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(shared)))
	for _, tn := range e.turns {
		p := uintptr(unsafe.Pointer(unsafe.StringData(tn.text)))
		require.False(t, p >= start && p < start+uintptr(cap(shared)), "turn %d is copied out of the shared slab", tn.number)
	}
}
