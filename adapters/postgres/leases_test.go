package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// A lock by channel key builds the new session, its id included, every
// time, and stores only the one it creates: its one find-or-create
// statement needs it up front (so the contract suite runs with
// LazySession false, and ports.LockRequest says so).
func TestLockByKeyBuildsTheNewSessionEveryTime(t *testing.T) {
	leases := NewLeases(testDB(t))
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	var ids []string
	req := ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
		NewID: func() (string, error) { ids = append(ids, fmt.Sprint("s", len(ids)+1)); return ids[len(ids)-1], nil }}
	for turn := range 3 {
		l, err := leases.LockSession(t.Context(), req)
		require.NoError(t, err)
		require.Equal(t, turn == 0, l.Created())
		require.Equal(t, "s1", l.Session().ID, "the session the first lock created")
		require.NoError(t, l.Release(t.Context()))
	}
	require.Len(t, ids, 3, "every lock by key made an id")
}
