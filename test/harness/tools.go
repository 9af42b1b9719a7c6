package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	toolsOnce sync.Once
	toolsErr  error
	toolsOut  []byte
)

// NodeTools returns the directory of the pinned npm test tools (redocly,
// portman, newman), installing them with test/tools/install.sh the first
// time. A machine without Node.js fails the test: these checks never skip.
func NodeTools(t testing.TB) string {
	t.Helper()
	toolsOnce.Do(func() {
		cmd := exec.Command(filepath.Join(RepoRoot(), "test", "tools", "install.sh"))
		toolsOut, toolsErr = cmd.CombinedOutput()
	})
	require.NoError(t, toolsErr, "test/tools/install.sh could not install the npm test tools:\n%s", toolsOut)
	return filepath.Join(RepoRoot(), "test", "tools", "node_modules", ".bin")
}

// ArtifactsDir is where a test leaves files for people to look at
// (screenshots, reports): $FOCAL_TEST_ARTIFACTS/<name>, by default
// .state/artifacts/<name> in the repository. The test logs the path.
func ArtifactsDir(t testing.TB, name string) string {
	t.Helper()
	base := os.Getenv("FOCAL_TEST_ARTIFACTS")
	if base == "" {
		base = filepath.Join(RepoRoot(), ".state", "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(base, name))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("artifacts: %s", dir)
	return dir
}
