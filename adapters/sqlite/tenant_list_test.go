package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"focal/ports"
)

// Versions left under an agent's deletion marker (a delete prunes them;
// a file written otherwise may hold them) do not make its tenant listed.
func TestTenantListSkipsVersionsUnderADeletionMarker(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "focal.db"))
	tenant := uuid.NewString()
	for v, deleted := range []bool{false, true} {
		_, err := db.writer.ExecContext(t.Context(), `INSERT INTO policies (tenant_id, agent_id, version, deleted, agent, policy, saved_ns)
			VALUES (?, 'a', ?, ?, '{}', '{}', ?)`, tenant, v+1, deleted, time.Now().UnixNano())
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
