package chaos

import (
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// mongoHost is the host:port of the MongoDB-compatible server these tests
// fault and stall. make test gives them a FerretDB of their own
// (FOCAL_TEST_CHAOS_MONGO_URI). On the one every other package's suite
// loads at the same time, a stalled stream's session (its record holds
// ~4 MB) once could not read even its agent's version within the 2 s
// operation timeout for over 30 s: the other suites' load, not the
// service, set that time. Run by hand, the shared FOCAL_TEST_MONGO_URI
// serves as well.
func mongoHost(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("FOCAL_TEST_CHAOS_MONGO_URI")
	if raw == "" {
		raw = os.Getenv("FOCAL_TEST_MONGO_URI")
	}
	if raw == "" {
		t.Fatal("neither FOCAL_TEST_CHAOS_MONGO_URI nor FOCAL_TEST_MONGO_URI is set: run make test, or start scripts/mongo-server.sh and export the URI it prints")
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}
