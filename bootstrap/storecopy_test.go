package bootstrap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// focal store copy names each store by a URL or a configuration file, and
// reads no FOCAL_* variable for either (docs/operations.md, "Moving to
// another store").
func TestStoreFromURLOrConfigFile(t *testing.T) {
	t.Setenv("FOCAL_STORE", "postgres")
	t.Setenv("FOCAL_MONGO_DB", "from-the-environment")
	config := filepath.Join(t.TempDir(), "focal.yaml")
	require.NoError(t, os.WriteFile(config, []byte("store:\n  kind: mongo\n  mongo:\n    uri: mongodb://db:27017\n"), 0o600))
	for _, c := range []struct {
		spec, kind, where string
	}{
		{"sqlite:/tmp/a.db", "sqlite", "sqlite:/tmp/a.db"},
		{"postgres://u@db:5432/focal", "postgres", "postgres://u@db:5432/focal"},
		{"postgresql://u@db/focal", "postgres", "postgresql://u@db/focal"},
		{"mongodb://db:27017", "mongo", "mongodb://db:27017 focal"},
		{"mongodb+srv://cluster.example", "mongo", "mongodb+srv://cluster.example focal"},
		{config, "mongo", "mongodb://db:27017 focal"},
	} {
		got, err := StoreFrom(c.spec)
		require.NoError(t, err, c.spec)
		assert.Equal(t, c.kind, got.Kind, c.spec)
		assert.Equal(t, c.where, where(got), c.spec)
	}
	_, err := StoreFrom("")
	assert.Error(t, err)
}
