package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A returning user's turn on PostgreSQL sends at most 3 statements one
// after another, as the store's tracer counts them on a real server (make
// test provides FOCAL_TEST_POSTGRES_URL; without it this fails).
func TestPostgresStatementsPerReturningTurn(t *testing.T) {
	url := os.Getenv("FOCAL_TEST_POSTGRES_URL")
	require.NotEmpty(t, url, "FOCAL_TEST_POSTGRES_URL is not set: run make test, or scripts/postgres-server.sh start .state/postgres")
	phrases := "../../" + defaultPhrases
	p, err := loadPhrases(phrases)
	require.NoError(t, err)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	require.NoError(t, runBundle([]string{"-rules", "20", "-phrases", phrases, "-out", bundle}))
	m, err := measurePostgresStatements(url, bundle, p.opening(0), 3)
	require.NoError(t, err)
	seq := m.maxOf(returningTurn, sequentialCount)
	t.Logf("a returning user's turn: %d statements (median), at most %d one after another\n%s",
		m.median(returningTurn, mongoCount), seq, postgresMarkdown(m))
	require.LessOrEqual(t, seq, postgresSeqLimit)
	require.Positive(t, m.median(returningTurn, mongoCount), "the tracer saw the turn's statements")
}
