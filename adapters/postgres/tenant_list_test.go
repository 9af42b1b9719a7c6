package postgres

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"focal/ports"
)

// Versions a failed prune left under an agent's deletion marker do not
// make its tenant listed.
func TestTenantListSkipsVersionsUnderADeletionMarker(t *testing.T) {
	db := testDB(t)
	tenant := uuid.NewString()
	for v, deleted := range []bool{false, true} {
		_, err := db.Pool().Exec(t.Context(), `INSERT INTO policies (tenant_id, agent_id, version, deleted, agent, policy, saved_at)
			VALUES ($1, 'a', $2, $3, '{}', '{}', $4)`, tenant, v+1, deleted, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := NewTenants(db).ListTenants(t.Context(), ports.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 0 {
		t.Fatalf("listed %v, want none", got.Items)
	}
}
