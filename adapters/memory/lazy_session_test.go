package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A lock by channel key without a candidate builds the new session only
// when the key has none: a returning user's turn asks for no id.
func TestLockByKeyBuildsTheNewSessionOnlyWhenCreating(t *testing.T) {
	s := New(clock.System{})
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	made := 0
	req := ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { made++; return "s1", nil }}
	for turn := range 3 {
		l, err := s.LockSession(t.Context(), req)
		require.NoError(t, err)
		require.Equal(t, turn == 0, l.Created())
		require.Equal(t, "s1", l.Session().ID)
		require.NoError(t, l.Release(t.Context()))
	}
	require.Equal(t, 1, made, "only the lock that created the session made its id")
}
