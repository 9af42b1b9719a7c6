package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
	"focal/test/faultproxy"
)

// behindProxy opens a store on a fresh database through a fault proxy,
// with one connection that is never pinged, so the proxy's next command
// is the store's next statement.
func behindProxy(t *testing.T) (*DB, *faultproxy.Proxy, string) {
	t.Helper()
	db, p, direct := openBehindProxy(t, Config{MaxConns: 1, MinConns: 0})
	db.poolCfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	startDB(t, db)
	return db, p, direct
}

// openBehindProxy opens (without starting) a store of cfg on a fresh
// database through a fault proxy, and returns the database's direct URL.
func openBehindProxy(t *testing.T, cfg Config, opts ...Option) (*DB, *faultproxy.Proxy, string) {
	t.Helper()
	direct := freshDatabase(t)
	u, err := url.Parse(direct)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := faultproxy.StartPostgres(ln, faultproxy.Config{Target: u.Host})
	t.Cleanup(func() { _ = p.Close() })
	u.Host = p.Addr()
	cfg.URL = u.String()
	db, err := Open(cfg, clock.System{}, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), opts...)
	require.NoError(t, err)
	return db, p, direct
}

// startDB starts an opened store, closed when the test ends.
func startDB(t *testing.T, db *DB) {
	t.Helper()
	require.NoError(t, db.Start(t.Context()))
	t.Cleanup(func() { _ = db.Close(context.Background()) })
}

func lockByID(sessionID string, wait time.Duration) ports.LockRequest {
	return ports.LockRequest{TenantID: "t", SessionID: sessionID, Opened: time.Now(), Wait: wait, TTL: time.Minute}
}

// newSession creates a session through the store and warms its lease
// statements on the one connection, so a fault hits their execution, not
// their preparation.
func newSession(t *testing.T, db *DB) string {
	t.Helper()
	leases := NewLeases(db)
	k := domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: "u"}
	l, err := leases.LockSession(t.Context(), ports.LockRequest{TenantID: "t", Key: k, Opened: time.Now(), Wait: time.Second,
		TTL: time.Minute, NewID: func() (string, error) { return "s1", nil }})
	require.NoError(t, err)
	require.NoError(t, l.Release(t.Context()))
	l, err = leases.LockSession(t.Context(), lockByID("s1", time.Second))
	require.NoError(t, err)
	require.NoError(t, l.Renew(t.Context()))
	require.NoError(t, l.Release(t.Context()))
	_, err = NewSessions(db).GetSession(t.Context(), "t", "s1")
	require.NoError(t, err)
	return "s1"
}

// A read, a lease take and the lease's renewal and release whose
// connection was lost (the statement dropped before or after it reached
// the server) are sent again on another connection and succeed.
func TestReadsAndLeasesSurviveALostConnection(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, _ := behindProxy(t)
			id := newSession(t, db)

			p.FaultNext(fault)
			s, err := NewSessions(db).GetSession(t.Context(), "t", id)
			require.NoError(t, err, "session read")
			require.Equal(t, id, s.ID)

			if fault == faultproxy.DropBeforeSend {
				p.FaultNext(fault)
			}
			l, err := NewLeases(db).LockSession(t.Context(), lockByID(id, time.Second))
			require.NoError(t, err, "lease take")
			p.FaultNext(fault)
			require.NoError(t, l.Renew(t.Context()), "lease renewal")
			p.FaultNext(fault)
			require.NoError(t, l.Release(t.Context()), "lease release")
			require.GreaterOrEqual(t, p.Stats().Faulted(), int64(3))
		})
	}
}

// A lease take whose answer was lost took the lease under its call's
// holder nonce: sent again, it is granted that lease (by id, by key, and
// by key where the lost take created the session), under the fence now in
// force; another caller still finds the lease held.
func TestLostLeaseTakeIsGrantedToItsTaker(t *testing.T) {
	db, p, direct := behindProxy(t)
	id := newSession(t, db)
	leases := NewLeases(db)
	byKey := func(user, newID string) ports.LockRequest {
		return ports.LockRequest{TenantID: "t", Key: domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: user},
			Opened: time.Now(), Wait: time.Second, TTL: time.Minute, NewID: func() (string, error) { return newID, nil }}
	}
	for _, tc := range []struct {
		name    string
		req     ports.LockRequest
		session string
		created bool
	}{
		{"by id", lockByID(id, time.Second), id, false},
		{"by key", byKey("u", "unused"), id, false},
		{"by key, creating the session", byKey("u2", "s2"), "s2", true},
	} {
		p.FaultNext(faultproxy.DropAfterSend)
		l, err := leases.LockSession(t.Context(), tc.req)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.session, l.Token().SessionID, tc.name)
		require.Equal(t, tc.created, l.Created(), tc.name)
		require.Equal(t, l.Token().Fence, leaseFence(t, direct, tc.session), "%s: the grant is the lease in force", tc.name)

		_, err = leases.LockSession(t.Context(), lockByID(tc.session, 50*time.Millisecond))
		require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "%s: granted twice: %v", tc.name, err)
		require.NoError(t, l.Release(t.Context()), tc.name)
	}
	require.Equal(t, int64(3), p.Stats().Faulted())
}

// A commit whose connection was lost, before it reached the server or
// after, is sent again and succeeds: the turn is stored once and the
// session moved on once, and the next turn commits after it.
func TestLostCommitIsStoredOnce(t *testing.T) {
	ctx := t.Context()
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, _ := behindProxy(t)
			id := newSession(t, db)
			leases, turns := NewLeases(db), NewTurns(db)
			for n := 1; n <= 3; n++ {
				l, err := leases.LockSession(ctx, lockByID(id, time.Second))
				require.NoError(t, err)
				after := l.Session()
				after.AdvanceTurn(n, time.Now())
				if n == 2 {
					p.FaultNext(fault) // turn 1 prepared the commit: the fault hits its execution
				}
				require.NoError(t, turns.CommitTurn(ctx, l.Token(), &domain.Turn{ID: fmt.Sprint("turn-", n), TenantID: "t", AgentID: "a",
					SessionID: id, TurnNumber: n, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}), "turn %d", n)
				require.NoError(t, l.Release(ctx))
			}
			require.Equal(t, int64(1), p.Stats().Faulted())
			page, err := turns.ListTurns(ctx, "t", id, ports.TurnQuery{})
			require.NoError(t, err)
			var numbers []int
			for _, turn := range page.Items {
				numbers = append(numbers, turn.TurnNumber)
			}
			require.Equal(t, []int{1, 2, 3}, numbers)
			s, err := NewSessions(db).GetSession(ctx, "t", id)
			require.NoError(t, err)
			require.Equal(t, 3, s.TurnCount)
		})
	}
}

// A close whose connection was lost, before it reached the server or
// after, is sent again and succeeds: the session reads back closed.
func TestLostCloseCloses(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, _ := behindProxy(t)
			id := newSession(t, db)
			p.FaultNext(fault)
			s, err := NewSessions(db).CloseSession(t.Context(), "t", id, time.Now())
			require.NoError(t, err)
			require.Equal(t, domain.SessionClosed, s.Status)
			require.Equal(t, int64(1), p.Stats().Faulted())
		})
	}
}

// leaseFence reads the fence of the session's lease straight from the table.
func leaseFence(t *testing.T, direct, sessionID string) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), direct)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var fence int64
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT lease_fence FROM sessions WHERE id = $1`, sessionID).Scan(&fence))
	return fence
}

// A rate take whose connection was lost is sent again and allowed: one
// dropped before it reached the server counts once, one dropped after
// counts twice (the over-count of one RateLimits accepts).
func TestLostRateTakeIsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		fault faultproxy.Fault
		count int
	}{{faultproxy.DropBeforeSend, 1}, {faultproxy.DropAfterSend, 2}} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			db, p, direct := behindProxy(t)
			rates := NewRateLimits(db)
			_, err := rates.TakeRate(t.Context(), "warm", 10, time.Minute)
			require.NoError(t, err)
			p.FaultNext(tc.fault)
			d, err := rates.TakeRate(t.Context(), "k", 10, time.Minute)
			require.NoError(t, err)
			require.True(t, d.Allowed)
			require.Equal(t, int64(1), p.Stats().Faulted())

			conn, err := pgx.Connect(t.Context(), direct)
			require.NoError(t, err)
			defer conn.Close(context.Background())
			var count int
			require.NoError(t, conn.QueryRow(t.Context(), `SELECT sum(count) FROM rate_windows WHERE key = 'k'`).Scan(&count))
			require.Equal(t, tc.count, count)
			require.Equal(t, 10-count, d.Remaining)
		})
	}
}

// An Idempotency-Key claim whose connection was lost is sent again: the
// caller holds the key, whether the first claim landed or not.
func TestLostKeyClaimStillClaims(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, _ := behindProxy(t)
			keys := NewIdempotencyKeys(db)
			rec := func(key string) ports.IdempotencyRecord {
				return ports.IdempotencyRecord{TenantID: "t", Key: key, Fingerprint: "f", Owner: "o1", TurnID: "turn1",
					ExpiresAt: time.Now().Add(time.Hour), HeldUntil: time.Now().Add(time.Minute)}
			}
			_, claimed, err := keys.ClaimIdempotencyKey(t.Context(), rec("warm"))
			require.NoError(t, err)
			require.True(t, claimed)

			p.FaultNext(fault)
			cur, claimed, err := keys.ClaimIdempotencyKey(t.Context(), rec("k"))
			require.NoError(t, err)
			require.True(t, claimed)
			require.Equal(t, "o1", cur.Owner)
			require.Equal(t, int64(1), p.Stats().Faulted())
		})
	}
}

// A budget block claim whose answer was lost took its block: sent again,
// it finds that block by the claim's nonce and takes no second one.
func TestLostBudgetClaimFindsItsBlock(t *testing.T) {
	db, p, direct := behindProxy(t)
	tenants := NewTenants(db)
	_, ok, err := tenants.ClaimBudgetBlock(t.Context(), "warm", "2026-03", 3, "h")
	require.NoError(t, err)
	require.True(t, ok)

	p.FaultNext(faultproxy.DropAfterSend)
	block, ok, err := tenants.ClaimBudgetBlock(t.Context(), "t", "2026-03", 3, "h")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 0, block)
	require.Equal(t, int64(1), p.Stats().Faulted())

	conn, err := pgx.Connect(t.Context(), direct)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var blocks int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM budget_blocks WHERE tenant_id = 't'`).Scan(&blocks))
	require.Equal(t, 1, blocks, "the claim took one block")
	block, _, err = tenants.ClaimBudgetBlock(t.Context(), "t", "2026-03", 3, "h")
	require.NoError(t, err)
	require.Equal(t, 1, block, "the next claim takes the next block")
}

// An Idempotency-Key completion whose connection was lost, after it
// reached the server or before, succeeds, and the response stored is the
// one sent; sent again, a different response never replaces it.
func TestLostKeyCompletionCompletes(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, _ := behindProxy(t)
			keys := NewIdempotencyKeys(db)
			expires := time.Now().Add(time.Hour)
			for _, key := range []string{"warm", "k"} {
				_, claimed, err := keys.ClaimIdempotencyKey(t.Context(), ports.IdempotencyRecord{TenantID: "t", Key: key, Fingerprint: "f",
					Owner: "o1", TurnID: "turn1", ExpiresAt: expires, HeldUntil: time.Now().Add(time.Minute)})
				require.NoError(t, err)
				require.True(t, claimed)
			}
			require.NoError(t, keys.CompleteIdempotencyKey(t.Context(), "t", "warm", "o1", 200, nil, []byte("warm"), expires))

			p.FaultNext(fault)
			require.NoError(t, keys.CompleteIdempotencyKey(t.Context(), "t", "k", "o1", 201, map[string]string{"X": "y"}, []byte("ok"), expires))
			require.Equal(t, int64(1), p.Stats().Faulted())
			got, err := keys.GetIdempotencyKey(t.Context(), "t", "k")
			require.NoError(t, err)
			require.True(t, got.Done)
			require.Equal(t, 201, got.Status)
			require.Equal(t, []byte("ok"), got.Body)

			for _, other := range []struct {
				status int
				header map[string]string
				body   string
			}{{500, map[string]string{"X": "y"}, "ok"}, {201, nil, "ok"}, {201, map[string]string{"X": "y"}, "other"}} {
				p.FaultNext(fault)
				err = keys.CompleteIdempotencyKey(t.Context(), "t", "k", "o1", other.status, other.header, []byte(other.body), expires)
				require.True(t, domain.IsCode(err, domain.CodeNotFound), "another response %v: %v", other, err)
			}
			again, err := keys.GetIdempotencyKey(t.Context(), "t", "k")
			require.NoError(t, err)
			require.Equal(t, got, again, "the response stored stays")
		})
	}
}

// A delete of a tenant's budget, a model key or a session whose
// connection was lost, before it reached the server or after, is sent
// again and succeeds: what it deleted is gone. A delete of what is not
// there, its connection kept, is still NOT_FOUND.
func TestLostDeleteDeletes(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		put    func(*DB, string) error
		delete func(*DB, string) error
		read   func(*DB, string) error
	}{
		{"budget", func(db *DB, tenant string) error {
			return NewTenants(db).SetTenantBudget(ctx, ports.TenantBudget{TenantID: tenant, MonthlyTokens: 1000, Month: "2026-03", SetAt: time.Now()})
		}, func(db *DB, tenant string) error {
			return NewTenants(db).DeleteTenantBudget(ctx, tenant)
		}, func(db *DB, tenant string) error {
			_, err := NewTenants(db).TenantBudget(ctx, tenant)
			return err
		}},
		{"model key", func(db *DB, tenant string) error {
			_, err := NewTenants(db).PutTenantModelKey(ctx, ports.TenantModelKey{TenantID: tenant, Provider: "openai",
				Secret: ports.SealedSecret{KeyID: "k1", Nonce: []byte("n"), Ciphertext: []byte("c")}, Hint: "abcd", SetAt: time.Now()})
			return err
		}, func(db *DB, tenant string) error {
			return NewTenants(db).DeleteTenantModelKey(ctx, tenant, "openai")
		}, func(db *DB, tenant string) error {
			keys, err := NewTenants(db).TenantModelKeys(ctx, tenant)
			if err == nil && len(keys) == 0 {
				return domain.Errorf(domain.CodeNotFound, "no key")
			}
			return err
		}},
		{"session", func(db *DB, id string) error {
			l, err := NewLeases(db).LockSession(ctx, ports.LockRequest{TenantID: "t", Opened: time.Now(), Wait: time.Second, TTL: time.Minute,
				Key:   domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: id},
				NewID: func() (string, error) { return id, nil }})
			if err != nil {
				return err
			}
			return l.Release(ctx)
		}, func(db *DB, id string) error {
			return sessionGone(NewSessions(db).DeleteSession(ctx, "t", id))
		}, func(db *DB, id string) error {
			_, err := NewSessions(db).GetSession(ctx, "t", id)
			return sessionGone(err)
		}},
	} {
		for _, fault := range []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend} {
			t.Run(tc.name+"/"+fault.String(), func(t *testing.T) {
				db, p, _ := behindProxy(t)
				require.NoError(t, tc.put(db, "warm"))
				require.NoError(t, tc.delete(db, "warm"))
				require.NoError(t, tc.put(db, "t"))

				p.FaultNext(fault)
				require.NoError(t, tc.delete(db, "t"))
				require.Equal(t, int64(1), p.Stats().Faulted())
				err := tc.read(db, "t")
				require.True(t, domain.IsCode(err, domain.CodeNotFound), "still there: %v", err)
				err = tc.delete(db, "t")
				require.True(t, domain.IsCode(err, domain.CodeNotFound), "deleted again: %v", err)
			})
		}
	}
}

// sessionGone is err with a session's NOT_FOUND told as any other's.
func sessionGone(err error) error {
	if domain.IsCode(err, domain.CodeSessionNotFound) {
		return domain.Errorf(domain.CodeNotFound, "%v", err)
	}
	return err
}
