package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
	"focal/test/pgtest"
)

// oldKey is the channel key of a session written before migration 004.
func oldKey(user string) domain.ChannelKey {
	return domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "webchat", UserChannelID: user}
}

// startAtMigration3 opens a store on a fresh database migrated up to 003
// and writes what its code wrote: the sessions "held" (its lease expires
// in an hour) and "expired" (a minute ago), neither with a lease holder,
// and block 0 of tenant t's period 2026-03, without a claim nonce. It
// closes that store and returns the database's URL.
func startAtMigration3(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	url := freshDatabase(t)
	old, err := Open(Config{URL: url}, clock.System{}, zap.NewNop())
	require.NoError(t, err)
	old.lastMigration = 3
	require.NoError(t, old.Start(ctx))
	defer old.Close(context.Background())
	pool := old.Pool()
	var holders int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'sessions' AND column_name = 'lease_holder'`).Scan(&holders))
	require.Zero(t, holders, "the schema is 003's")

	for _, s := range []struct{ id, expires string }{{"held", "1 hour"}, {"expired", "-1 minute"}} {
		session := domain.NewSession(s.id, oldKey(s.id), time.Now())
		state, err := sqlkit.EncodeState(session)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO sessions (id, tenant_id, agent_id, status, active_key, created_ns, version, state,
			lease_fence, lease_expires) VALUES ($1, 't', 'a', 'active', $2, $3, $4, $5, nextval('lease_fences'), now() + $6::interval)`,
			s.id, sqlkit.ChannelKeyID(session.Key()), session.CreatedAt.UnixNano(), session.Version, string(state), s.expires)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO budget_blocks (tenant_id, period, block, holder) VALUES ('t', '2026-03', 0, 'old instance')`)
	require.NoError(t, err)
	return url
}

// Leases and budget blocks written before migration 004 (no holder or
// claim nonce) keep their meaning after it: a held lease is refused to
// others, by id and by key, until it expires, then taken; an expired one
// is taken at once and its turn commits; a claimed block stays claimed.
func TestRowsOfMigration3AreHonouredAfterIt(t *testing.T) {
	ctx := t.Context()
	url := startAtMigration3(t)
	db := openDB(t, Config{URL: url})
	leases := NewLeases(db)
	byKey := func(user string) ports.LockRequest {
		return ports.LockRequest{TenantID: "t", Key: oldKey(user), Opened: time.Now(), Wait: 50 * time.Millisecond, TTL: time.Minute,
			NewID: func() (string, error) { return "unused", nil }}
	}

	_, err := leases.LockSession(ctx, lockByID("held", 50*time.Millisecond))
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "by id, the held lease was granted: %v", err)
	_, err = leases.LockSession(ctx, byKey("held"))
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "by key, the held lease was granted: %v", err)
	_, err = db.Pool().Exec(ctx, `UPDATE sessions SET lease_expires = now() - interval '1 second' WHERE id = 'held'`)
	require.NoError(t, err, "its hour passes")
	l, err := leases.LockSession(ctx, lockByID("held", 50*time.Millisecond))
	require.NoError(t, err, "the held lease once expired")
	require.NoError(t, l.Release(ctx))

	old := leaseFence(t, url, "expired")
	l, err = leases.LockSession(ctx, byKey("expired"))
	require.NoError(t, err, "the expired lease")
	require.Equal(t, "expired", l.Token().SessionID)
	require.Greater(t, l.Token().Fence, old)
	_, err = leases.LockSession(ctx, lockByID("expired", 50*time.Millisecond))
	require.True(t, domain.IsCode(err, domain.CodeSessionBusy), "the taken lease was granted again: %v", err)
	after := l.Session()
	after.AdvanceTurn(1, time.Now())
	require.NoError(t, NewTurns(db).CommitTurn(ctx, l.Token(), &domain.Turn{ID: "turn-1", TenantID: "t", AgentID: "a",
		SessionID: "expired", TurnNumber: 1, Status: domain.TurnCompleted, CreatedAt: time.Now(), SessionAfter: after}))
	s, err := NewSessions(db).GetSession(ctx, "t", "expired")
	require.NoError(t, err)
	require.Equal(t, 1, s.TurnCount)

	tenants := NewTenants(db)
	block, ok, err := tenants.ClaimBudgetBlock(ctx, "t", "2026-03", 2, "new instance")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, block, "block 0 is the old claim's")
	_, ok, err = tenants.ClaimBudgetBlock(ctx, "t", "2026-03", 2, "new instance")
	require.NoError(t, err)
	require.False(t, ok, "both blocks are claimed")
}

// Migration 005 puts policies.agent_id in the "C" collation on a database
// whose default is linguistic: agents saved before it are listed
// byte-wise after it, and the listing's cursor is again a range of the
// primary key's index, which a byte-wise comparison of a column in
// another collation cannot use (it filters every agent of the tenant).
func TestAgentIDsAreByteWiseAfterMigration5(t *testing.T) {
	ctx := t.Context()
	url := pgtest.DatabaseWith(t, "focal_test", pgtest.LinguisticCollation)
	old, err := Open(Config{URL: url}, clock.System{}, zap.NewNop())
	require.NoError(t, err)
	old.lastMigration = 4
	require.NoError(t, old.Start(ctx))
	ids := []string{"b", "B-x", "a-x", "a_x", "A", "Z"}
	for _, id := range ids {
		require.NoError(t, NewPolicies(old).SavePolicy(ctx, "t", &domain.Policy{Agent: domain.Agent{ID: id, Name: id}}))
	}
	old.Close(context.Background())

	db := openDB(t, Config{URL: url})
	page, err := NewPolicies(db).ListAgents(ctx, "t", ports.PageRequest{})
	require.NoError(t, err)
	var listed []string
	for _, a := range page.Items {
		listed = append(listed, a.ID)
	}
	require.Equal(t, []string{"A", "B-x", "Z", "a-x", "a_x", "b"}, listed)

	requireIndexRange(t, db, "agent_id >", sqlListAgents, "t", "B-x", 101)
}

// Migration 006 puts tenant_model_keys' tenant_id and provider in the "C"
// collation on a database whose default is linguistic: keys put before it
// are listed by tenant, then provider, byte-wise after it, and the
// listing's cursor is a range of the primary key's index, not a scan and
// sort of every tenant's keys for each page of a rotation.
func TestTenantKeysAreAnIndexRangeAfterMigration6(t *testing.T) {
	ctx := t.Context()
	url := pgtest.DatabaseWith(t, "focal_test", pgtest.LinguisticCollation)
	old, err := Open(Config{URL: url}, clock.System{}, zap.NewNop())
	require.NoError(t, err)
	old.lastMigration = 5
	require.NoError(t, old.Start(ctx))
	for _, tenant := range []string{"b", "acme-eu", "acme", "B"} {
		_, err := NewTenants(old).PutTenantModelKey(ctx, ports.TenantModelKey{TenantID: tenant, Provider: "openai",
			Secret: ports.SealedSecret{KeyID: "k1"}, SetAt: time.Now()})
		require.NoError(t, err)
	}
	old.Close(context.Background())

	db := openDB(t, Config{URL: url})
	page, err := NewTenants(db).ListAllTenantModelKeys(ctx, ports.PageRequest{})
	require.NoError(t, err)
	var listed []string
	for _, k := range page.Items {
		listed = append(listed, k.TenantID)
	}
	require.Equal(t, []string{"B", "acme", "acme-eu", "b"}, listed)

	requireIndexRange(t, db, "ROW(tenant_id, provider) >", sqlAllKeys, "acme", "openai", 101)
}

// requireIndexRange requires query's plan, with sequential scans off, to
// read the cursor (cond, as EXPLAIN writes it) as a range of an index.
func requireIndexRange(t *testing.T, db *DB, cond, query string, args ...any) {
	t.Helper()
	ctx := t.Context()
	var plan []string
	err := pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(plan, func(line string) bool {
		return strings.Contains(line, "Index Cond:") && strings.Contains(line, cond)
	}), "the cursor is a range of the index:\n%s", strings.Join(plan, "\n"))
}
