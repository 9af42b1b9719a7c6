package memory

import (
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// Every History call of a lease returns a slice of its own, with the
// same entries, RecentHistory's, however many turns the lease carries.
func TestLeaseHistoryCallsReturnSlicesOfTheirOwn(t *testing.T) {
	for _, c := range []struct{ turns, history int }{{1, 10}, {3, 10}, {12, 10}, {12, 4}, {12, 11}, {12, 0}} {
		s := New(clock.System{})
		sess := committedSession(t, s, c.turns)
		l, err := s.LockSession(t.Context(), ports.LockRequest{TenantID: "t", SessionID: sess.ID, History: c.history,
			Wait: time.Second, TTL: time.Minute})
		require.NoError(t, err)
		want, err := s.RecentHistory(t.Context(), "t", sess.ID, c.history)
		require.NoError(t, err)
		first, second := l.History(), l.History()
		require.Equal(t, want, first, "%+v", c)
		require.Equal(t, want, second, "%+v", c)
		require.NotNil(t, first)
		require.Len(t, first, cap(first), "appending to the entries copies them: %+v", c)
		if len(first) > 0 {
			first[0].Message = "changed by the caller"
			require.Equal(t, want[0], second[0], "%+v", c)
		}
		require.NoError(t, l.Release(t.Context()))
	}
}

// What a lease's history entries read of a kept turn lies in the first
// cache line of its object (see storedTurn): a returning user's turn
// reads ten of them, seldom in the cache.
func TestHistoryReadsOneLineOfAKeptTurn(t *testing.T) {
	var st storedTurn
	require.LessOrEqual(t, unsafe.Sizeof(st), uintptr(128), "kept turns are 128-byte objects, aligned on lines")
	for name, end := range map[string]uintptr{
		"text":   unsafe.Offsetof(st.text) + unsafe.Sizeof(st.text),
		"ends":   unsafe.Offsetof(st.ends) + unsafe.Sizeof(st.ends),
		"number": unsafe.Offsetof(st.number) + unsafe.Sizeof(st.number),
	} {
		require.LessOrEqual(t, end, uintptr(64), name)
	}
}
