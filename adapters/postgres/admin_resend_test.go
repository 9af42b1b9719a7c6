package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
	"focal/test/faultproxy"
)

var lostSends = []faultproxy.Fault{faultproxy.DropBeforeSend, faultproxy.DropAfterSend}

// warmPolicies saves and deletes an agent of its own, so the policy
// statements are prepared on the one connection and a fault hits their
// execution.
func warmPolicies(t *testing.T, policies *Policies, n int) {
	t.Helper()
	id := fmt.Sprint("warm-", n)
	require.NoError(t, policies.SavePolicy(t.Context(), "t", &domain.Policy{Agent: domain.Agent{ID: id, Name: id}}))
	require.NoError(t, policies.DeleteAgent(t.Context(), "t", id))
}

// policyRows is the agent's stored versions, oldest first, as
// "version:name" (a deletion marker's name is "deleted").
func policyRows(t *testing.T, direct, agentID string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), direct)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT version || ':' || CASE WHEN deleted THEN 'deleted' ELSE agent::json->>'name' END
		FROM policies WHERE tenant_id = 't' AND agent_id = $1 ORDER BY version`, agentID)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// A policy save (a create, then an update) and an agent's delete whose
// insert lost its connection, before it reached the server or after, are
// sent again and succeed: each version is stored once, and the delete's
// marker prunes the versions under it.
func TestLostPolicyWriteIsStoredOnce(t *testing.T) {
	ctx := t.Context()
	for _, fault := range lostSends {
		t.Run(fault.String(), func(t *testing.T) {
			db, p, direct := behindProxy(t)
			policies := NewPolicies(db)

			warmPolicies(t, policies, 1)
			p.FaultNext(faultproxy.Pass, fault) // the version read passes; the insert is lost
			require.NoError(t, policies.SavePolicy(ctx, "t", &domain.Policy{Agent: domain.Agent{ID: "a", Name: "one"}}), "create")
			require.Equal(t, []string{"1:one"}, policyRows(t, direct, "a"))

			warmPolicies(t, policies, 2)
			p.FaultNext(faultproxy.Pass, fault)
			require.NoError(t, policies.SavePolicy(ctx, "t", &domain.Policy{Agent: domain.Agent{ID: "a", Name: "two", Version: 2}}), "update")
			got, err := policies.GetPolicy(ctx, "t", "a")
			require.NoError(t, err)
			require.Equal(t, "two", got.Agent.Name)
			require.Equal(t, []string{"1:one", "2:two"}, policyRows(t, direct, "a"))

			warmPolicies(t, policies, 3)
			p.FaultNext(faultproxy.Pass, fault)
			require.NoError(t, policies.DeleteAgent(ctx, "t", "a"), "delete")
			_, err = policies.GetPolicy(ctx, "t", "a")
			require.True(t, domain.IsCode(err, domain.CodeAgentNotFound), "still there: %v", err)
			require.Equal(t, []string{"3:deleted"}, policyRows(t, direct, "a"))
			require.Equal(t, int64(3), p.Stats().Faulted())
		})
	}
}

// An insert of a version another save holds, its connection lost after it
// reached the server, is still VERSION_CONFLICT when sent again: the row
// there is not its own, even with the same content saved at another time.
func TestLostPolicyInsertOverAnotherIsAConflict(t *testing.T) {
	db, p, direct := behindProxy(t)
	policies := NewPolicies(db)
	warmPolicies(t, policies, 1)
	require.NoError(t, policies.SavePolicy(t.Context(), "t", &domain.Policy{Agent: domain.Agent{ID: "a", Name: "one"}}))
	stored, err := policies.GetPolicy(t.Context(), "t", "a")
	require.NoError(t, err)

	for i, name := range []string{"other", "one"} {
		warmPolicies(t, policies, i+2)
		agent, policy, err := sqlkit.EncodePolicy("t", &domain.Policy{Agent: domain.Agent{ID: "a", Name: name}}, 1)
		require.NoError(t, err)
		p.FaultNext(faultproxy.DropAfterSend)
		err = policies.insertVersion(t.Context(), "t", "a", 1, false, false, agent, policy)
		require.True(t, domain.IsCode(err, domain.CodeVersionConflict), "%s: %v", name, err)
	}
	require.Equal(t, int64(2), p.Stats().Faulted())
	again, err := policies.GetPolicy(t.Context(), "t", "a")
	require.NoError(t, err)
	require.Equal(t, stored, again)
	require.Equal(t, []string{"1:one"}, policyRows(t, direct, "a"))
}

// countKeyWrites makes the database count every row a write of
// tenant_model_keys inserts or updates, in key_writes.
func countKeyWrites(t *testing.T, direct string) func() int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), direct)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(t.Context(), `CREATE TABLE key_writes (n int);
		CREATE FUNCTION count_key_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO key_writes VALUES (1); RETURN NULL; END $$;
		CREATE TRIGGER key_writes AFTER INSERT OR UPDATE ON tenant_model_keys FOR EACH ROW EXECUTE FUNCTION count_key_write()`)
	require.NoError(t, err)
	return func() int {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM key_writes`).Scan(&n))
		return n
	}
}

func modelKey(tenant, hint string) ports.TenantModelKey {
	return ports.TenantModelKey{TenantID: tenant, Provider: "openai", Hint: hint, SetAt: time.Now(),
		Secret: ports.SealedSecret{KeyID: "k1", Nonce: []byte("n-" + hint), Ciphertext: []byte("c-" + hint)}}
}

// keyTxCommands are the commands of a key write's transaction, in order.
var keyTxCommands = []string{"begin", "lock", "write", "commit"}

// A key put and a key reseal whose connection was lost at any command of
// their transaction, before it reached the server or after, are sent
// again and succeed, written once: the key holds what they wrote, at the
// revision the put returned.
func TestLostKeyWriteIsWrittenOnce(t *testing.T) {
	ctx := t.Context()
	for at, command := range keyTxCommands {
		for _, fault := range lostSends {
			t.Run(command+"/"+fault.String(), func(t *testing.T) {
				db, p, direct := behindProxy(t)
				writes := countKeyWrites(t, direct)
				tenants := NewTenants(db)
				faultAt := func() {
					faults := make([]faultproxy.Fault, at+1)
					faults[at] = fault
					p.FaultNext(faults...)
				}
				for _, tenant := range []string{"warm", "t"} { // prepares the put, the reseal and the revision read
					_, err := tenants.PutTenantModelKey(ctx, modelKey(tenant, "old"))
					require.NoError(t, err)
					keys, err := tenants.TenantModelKeys(ctx, tenant)
					require.NoError(t, err)
					keys[0].Revision--
					require.True(t, domain.IsCode(tenants.ResealTenantModelKey(ctx, keys[0]), domain.CodeVersionConflict))
				}

				faultAt()
				revision, err := tenants.PutTenantModelKey(ctx, modelKey("t", "new"))
				require.NoError(t, err, "put")
				keys, err := tenants.TenantModelKeys(ctx, "t")
				require.NoError(t, err)
				require.Equal(t, "new", keys[0].Hint)
				require.Equal(t, revision, keys[0].Revision)
				require.Equal(t, 3, writes(), "the put wrote once")

				warm := modelKey("warm", "old")
				warm.Revision = -1
				require.Error(t, tenants.ResealTenantModelKey(ctx, warm)) // prepares the reseal on the new connection
				resealed := keys[0]
				resealed.Secret.KeyID = "k2"
				faultAt()
				require.NoError(t, tenants.ResealTenantModelKey(ctx, resealed), "reseal")
				keys, err = tenants.TenantModelKeys(ctx, "t")
				require.NoError(t, err)
				require.Equal(t, "k2", keys[0].Secret.KeyID)
				require.Equal(t, 4, writes(), "the reseal wrote once")
				require.Equal(t, int64(2), p.Stats().Faulted())
			})
		}
	}
}

// A key put whose commit was lost, followed before it is sent again by
// another write of the key, is not written again over that write: it
// answers STORE_UNAVAILABLE, as it did before it was sent again at all.
// A reseal of a stale revision whose connection was lost is still
// VERSION_CONFLICT.
func TestLostKeyWriteNeverUndoesALaterOne(t *testing.T) {
	ctx := t.Context()
	var direct string
	var armed atomic.Bool
	later := func(ev StatementEvent) {
		if ev.Name != "commit" || !ev.Failed || !armed.CompareAndSwap(true, false) {
			return
		}
		conn, err := pgx.Connect(ctx, direct)
		if err == nil {
			_, err = conn.Exec(ctx, `UPDATE tenant_model_keys SET hint = 'later', revision = nextval('tenant_key_revisions') WHERE tenant_id = 't'`)
			_ = conn.Close(context.Background())
		}
		if err != nil {
			t.Errorf("the later write: %v", err)
		}
	}
	db, p, direct := openBehindProxy(t, Config{MaxConns: 1, MinConns: 0}, WithStatementObserver(later))
	db.poolCfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	startDB(t, db)
	tenants := NewTenants(db)
	for _, hint := range []string{"old", "warm"} {
		_, err := tenants.PutTenantModelKey(ctx, modelKey("t", hint))
		require.NoError(t, err)
	}

	armed.Store(true)
	p.FaultNext(faultproxy.Pass, faultproxy.Pass, faultproxy.Pass, faultproxy.DropAfterSend)
	_, err := tenants.PutTenantModelKey(ctx, modelKey("t", "new"))
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "%v", err)
	keys, err := tenants.TenantModelKeys(ctx, "t")
	require.NoError(t, err)
	require.Equal(t, "later", keys[0].Hint, "the later write stays")

	stale := keys[0]
	stale.Revision--
	require.True(t, domain.IsCode(tenants.ResealTenantModelKey(ctx, stale), domain.CodeVersionConflict)) // prepares the reseal
	p.FaultNext(faultproxy.Pass, faultproxy.Pass, faultproxy.DropAfterSend)
	require.True(t, domain.IsCode(tenants.ResealTenantModelKey(ctx, stale), domain.CodeVersionConflict))
	require.Equal(t, int64(2), p.Stats().Faulted())
}

// A model key's put and reseal meeting a connection the server ended
// while it sat idle (a restart within PingIdleAfter) go through, each
// written once.
func TestKeyWritesGoThroughAConnectionKilledWhileIdle(t *testing.T) {
	ctx := t.Context()
	direct := freshDatabase(t)
	db := openDB(t, Config{URL: direct, MaxConns: 1, PingIdleAfter: time.Hour})
	writes := countKeyWrites(t, direct)
	tenants := NewTenants(db)
	_, err := tenants.PutTenantModelKey(ctx, modelKey("t", "old"))
	require.NoError(t, err)

	killIdleConnection(t, db, direct)
	revision, err := tenants.PutTenantModelKey(ctx, modelKey("t", "new"))
	require.NoError(t, err, "put")
	keys, err := tenants.TenantModelKeys(ctx, "t")
	require.NoError(t, err)
	require.Equal(t, "new", keys[0].Hint)
	require.Equal(t, revision, keys[0].Revision)

	killIdleConnection(t, db, direct)
	keys[0].Secret.KeyID = "k2"
	require.NoError(t, tenants.ResealTenantModelKey(ctx, keys[0]), "reseal")
	keys, err = tenants.TenantModelKeys(ctx, "t")
	require.NoError(t, err)
	require.Equal(t, "k2", keys[0].Secret.KeyID)
	require.Equal(t, 3, writes())
}
