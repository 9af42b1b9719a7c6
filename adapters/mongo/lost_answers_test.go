package mongo

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
	"focal/test/faultproxy"
)

// behindProxy opens another instance on db's database through a fault
// proxy: the proxy's next command is the instance's next command (the
// driver's handshakes and heartbeats pass untouched).
func behindProxy(t *testing.T, db *DB) (*DB, *faultproxy.Proxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	target := strings.TrimSuffix(strings.TrimPrefix(testURI(t), "mongodb://"), "/")
	p := faultproxy.Start(ln, faultproxy.Config{Target: target})
	t.Cleanup(func() { _ = p.Close() })
	cfg := db.cfg
	cfg.URI = "mongodb://" + p.Addr() + "/"
	return openDB(t, cfg, clock.System{}), p
}

// A commit whose insert was lost on the way (sent again) or whose answer
// was lost (read back) succeeds, and the turn is stored once.
func TestLostCommitIsSettled(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			direct := testDB(t)
			db, p := behindProxy(t, direct)
			s := storesOf(db)
			ctx := t.Context()
			k, sess := newUserSession(t, s.leases)
			lease, err := s.leases.LockSession(ctx, byIDReq(k.TenantID, sess.ID, 0, time.Minute))
			require.NoError(t, err)

			p.FaultNext(fault) // the commit's insert: its lease is held alone, so it is the only command
			turn := turnAfter(lease.Session(), 1)
			require.NoError(t, s.turns.CommitTurn(ctx, lease.Token(), turn))
			require.EqualValues(t, 1, p.Stats().Faulted())
			got, err := storesOf(direct).sessions.GetSession(ctx, k.TenantID, sess.ID)
			require.NoError(t, err)
			require.Equal(t, 1, got.TurnCount, "the turn is stored once")
			stored, err := storesOf(direct).turns.GetTurn(ctx, k.TenantID, turn.ID)
			require.NoError(t, err)
			require.Equal(t, turn.ID, stored.ID)
		})
	}
}

// A lease write whose answer was lost is read back: the lease carries the
// writer's fence, so it is granted to the writer, and to nobody else.
func TestLostLeaseWriteIsGrantedToItsWriter(t *testing.T) {
	direct := testDB(t)
	k, sess := newUserSession(t, storesOf(direct).leases)
	db, p := behindProxy(t, direct) // knows nothing of the session: the read, then the lease
	ctx := t.Context()

	p.FaultNext(faultproxy.Pass, faultproxy.Pass, faultproxy.DropAfterSend) // the session and its turns; the lease
	lease, err := NewLeases(db).LockSession(ctx, byIDReq(k.TenantID, sess.ID, time.Second, time.Minute))
	require.NoError(t, err, "the lost lease write is granted")
	require.EqualValues(t, 1, p.Stats().Faulted())
	stored, err := direct.findLease(ctx, leaseID(k.TenantID, sess.ID, 1))
	require.NoError(t, err)
	require.Equal(t, stored.Fence, lease.Token().Fence, "the grant is the lease in force")
	_, err = NewLeases(direct).LockSession(ctx, byIDReq(k.TenantID, sess.ID, 50*time.Millisecond, time.Minute))
	requireCode(t, err, domain.CodeSessionBusy, "granted twice")
	require.NoError(t, lease.Release(ctx))
}

// A completion whose answer was lost is read back: done under its owner,
// it succeeded and the stored response replays; one lost on the way did
// not land, so it is STORE_UNAVAILABLE and the claim still runs.
func TestLostCompletionIsSettled(t *testing.T) {
	direct := testDB(t)
	db, p := behindProxy(t, direct)
	keys := NewIdempotencyKeys(db)
	ctx := t.Context()
	claim := func() (string, string) {
		tenant, key := uuid.NewString(), "k-"+uuid.NewString()
		_, claimed, err := keys.ClaimIdempotencyKey(ctx, ports.IdempotencyRecord{TenantID: tenant, Key: key, Fingerprint: "f",
			Owner: "o1", ExpiresAt: time.Now().Add(time.Minute)})
		require.NoError(t, err)
		require.True(t, claimed)
		return tenant, key
	}

	tenant, key := claim()
	p.FaultNext(faultproxy.DropAfterSend)
	require.NoError(t, keys.CompleteIdempotencyKey(ctx, tenant, key, "o1", 201, nil, []byte("done"), time.Now().Add(time.Hour)),
		"a completion whose answer was lost")
	got, err := NewIdempotencyKeys(direct).GetIdempotencyKey(ctx, tenant, key)
	require.NoError(t, err)
	require.True(t, got.Done)
	require.Equal(t, 201, got.Status)
	require.Equal(t, []byte("done"), got.Body)

	tenant, key = claim()
	p.FaultNext(faultproxy.DropBeforeSend)
	err = keys.CompleteIdempotencyKey(ctx, tenant, key, "o1", 201, nil, []byte("done"), time.Now().Add(time.Hour))
	requireCode(t, err, domain.CodeStoreUnavailable, "a completion that never reached the server")
	got, err = NewIdempotencyKeys(direct).GetIdempotencyKey(ctx, tenant, key)
	require.NoError(t, err)
	require.False(t, got.Done, "the claim still runs")
	require.EqualValues(t, 2, p.Stats().Faulted())
}

// A close whose answer was lost is read back: the session is closed, and
// the close succeeds.
func TestLostCloseIsSettled(t *testing.T) {
	direct := testDB(t)
	k, sess := newUserSession(t, storesOf(direct).leases)
	db, p := behindProxy(t, direct)
	ctx := t.Context()

	// The close's update, after its read of the session (two reads
	// without $lookup).
	reads := 1
	if !direct.caps.lookup {
		reads = 2
	}
	p.FaultNext(append(make([]faultproxy.Fault, reads), faultproxy.DropAfterSend)...)
	closed, err := NewSessions(db).CloseSession(ctx, k.TenantID, sess.ID, time.Now())
	require.NoError(t, err, "a close whose answer was lost")
	require.Equal(t, domain.SessionClosed, closed.Status)
	require.EqualValues(t, 1, p.Stats().Faulted())
}
