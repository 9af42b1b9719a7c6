package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A configuration is read in three layers, each over the one before:
// the defaults, the --config file, then the FOCAL_* variables that are
// set (cmd/focal's --config: "FOCAL_* variables override it"). A value the
// file gives explicitly, zero included, beats the default.
func TestVariablesOverrideTheConfigFileWhichOverridesDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "focal.yaml")
	file := "store:\n  kind: sqlite\n  sqlite:\n    path: " + filepath.Join(t.TempDir(), "focal.db") + "\n" +
		"  memory:\n    max_turns: 0\n" +
		"log:\n  level: debug\n" +
		"chat:\n  session_lock_wait: 5s\n"
	require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
	secret := strings.Repeat("s", 32)

	cfg, err := LoadConfigEnv(path, map[string]string{"FOCAL_JWT_SECRET": secret})
	require.NoError(t, err)
	require.Equal(t, "sqlite", cfg.Store.Kind, "the file's store")
	require.Equal(t, "debug", cfg.Log.Level, "the file's level")
	require.Equal(t, 5*time.Second, cfg.Chat.SessionLockWait, "the file's lock wait")
	require.Zero(t, cfg.Store.Memory.MaxTurns, "the file's explicit 0 (keep every turn) against the default 1000")
	require.Equal(t, 60*time.Second, cfg.Chat.TurnTimeout, "the default where the file says nothing")
	require.Equal(t, "json", cfg.Log.Format, "the default where the file says nothing")

	cfg, err = LoadConfigEnv(path, map[string]string{"FOCAL_JWT_SECRET": secret,
		"FOCAL_STORE": "memory", "FOCAL_LOG_LEVEL": "warn", "FOCAL_MEMORY_MAX_TURNS": "20"})
	require.NoError(t, err)
	require.Equal(t, "memory", cfg.Store.Kind, "FOCAL_STORE over the file")
	require.Equal(t, "warn", cfg.Log.Level, "FOCAL_LOG_LEVEL over the file")
	require.Equal(t, 20, cfg.Store.Memory.MaxTurns, "FOCAL_MEMORY_MAX_TURNS over the file")
	require.Equal(t, 5*time.Second, cfg.Chat.SessionLockWait, "the file's where no variable is set")

	cfg, err = LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": secret})
	require.NoError(t, err)
	require.Equal(t, "memory", cfg.Store.Kind, "the default store")
	require.Equal(t, 1000, cfg.Store.Memory.MaxTurns, "the default turns kept")
}
