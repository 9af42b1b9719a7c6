package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// A lease its holder neither renews nor releases (a crashed instance) is
// taken by the next caller once its TTL has passed on the store's clock,
// and not before: the lease a channel key's first message creates, and
// the lease taken of an existing session.
func TestALapsedLeaseIsTakenAfterItsTTL(t *testing.T) {
	ctx := t.Context()
	clk := clock.NewFake()
	db := openWith(t, Config{Path: filepath.Join(t.TempDir(), "focal.db")}, clk)
	leases := NewLeases(db)
	const ttl = time.Minute
	candidate := domain.NewSession("s", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}, clk.Now())
	created, err := leases.LockSession(ctx, ports.LockRequest{TenantID: "t", Candidate: candidate, TTL: ttl})
	require.NoError(t, err)
	require.True(t, created.Created())
	byID := ports.LockRequest{TenantID: "t", SessionID: "s", TTL: ttl} // no wait: one try

	clk.Advance(ttl - time.Second)
	_, err = leases.LockSession(ctx, byID)
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "the created lease was taken before its TTL: %v", err)
	clk.Advance(2 * time.Second)
	_, err = leases.LockSession(ctx, byID)
	require.NoError(t, err, "the created lease, its TTL passed")

	clk.Advance(ttl - time.Second)
	_, err = leases.LockSession(ctx, byID)
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "the taken lease was taken again before its TTL: %v", err)
	clk.Advance(2 * time.Second)
	_, err = leases.LockSession(ctx, byID)
	require.NoError(t, err, "the taken lease, its TTL passed")
}
