package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/ports"
)

// A tenant whose only session went cold (packed, out of the live maps) is
// still listed: what focal store copy --all-tenants copies.
func TestTenantListFindsColdSessions(t *testing.T) {
	c := clock.NewFake()
	s := New(c)
	sess := committedSession(t, s, 1)
	s.Sweep(c.Now().Add(packAfter + time.Second))
	s.mu.Lock()
	_, live := s.sessions[sess.ID]
	s.mu.Unlock()
	require.False(t, live, "the session is cold")

	got, err := NewTenantList(s, NewTenantModelKeys(), NewBudgets()).ListTenants(t.Context(), ports.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, ports.Page[string]{Items: []string{sess.TenantID}}, got)
}
