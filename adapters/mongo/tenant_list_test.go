package mongo

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"focal/ports"
)

// Versions a failed prune left behind under a deletion marker (an agent's,
// a model key's, a budget's) do not make a tenant listed; a live one does.
func TestTenantListSkipsWhatAFailedPruneLeft(t *testing.T) {
	db := testDB(t)
	ctx := t.Context()
	agentOnly, keyOnly, budgetOnly, live := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	now := time.Now().UTC()
	for _, insert := range []struct {
		what string
		err  func() error
	}{
		{"an agent's version 1", func() error {
			_, err := db.policies.InsertOne(ctx, policyDoc{ID: bson.NewObjectID(), TenantID: agentOnly, AgentID: "a", Version: 1,
				Agent: "{}", Policy: "{}", SavedAt: now})
			return err
		}},
		{"its deletion marker", func() error {
			_, err := db.policies.InsertOne(ctx, policyDoc{ID: bson.NewObjectID(), TenantID: agentOnly, AgentID: "a", Version: 2,
				Deleted: true, SavedAt: now})
			return err
		}},
		{"a key's revision 1", func() error {
			_, err := db.tenantKeys.InsertOne(ctx, keyDoc{TenantID: keyOnly, Provider: "openai", Revision: 1, KeyID: "k", SetAt: now})
			return err
		}},
		{"its tombstone", func() error {
			_, err := db.tenantKeys.InsertOne(ctx, keyDoc{TenantID: keyOnly, Provider: "openai", Revision: 2, Deleted: true, SetAt: now})
			return err
		}},
		{"a budget's revision 1", func() error {
			_, err := db.tenantBudgets.InsertOne(ctx, budgetDoc{TenantID: budgetOnly, Revision: 1, MonthlyTokens: 5, SetAt: now})
			return err
		}},
		{"its tombstone", func() error {
			_, err := db.tenantBudgets.InsertOne(ctx, budgetDoc{TenantID: budgetOnly, Revision: 2, Deleted: true, SetAt: now})
			return err
		}},
		{"a live budget", func() error {
			_, err := db.tenantBudgets.InsertOne(ctx, budgetDoc{TenantID: live, Revision: 1, MonthlyTokens: 5, SetAt: now})
			return err
		}},
	} {
		require.NoError(t, insert.err(), insert.what)
	}
	got, err := NewTenantList(db).ListTenants(ctx, ports.PageRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{live}, got.Items)
}
