package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"focal/test/pgtest"
)

// ReducedConfig is the run make test makes: the full run's mix at a fifth
// of its size.
func ReducedConfig(target string) Config {
	return Config{Target: target, Database: fmt.Sprintf("focal_chaos_%d", time.Now().UnixNano()),
		Turns: 200, DupShare: 0.1, Racing: 20, Concurrency: 16, Faults: DefaultFaults(1)}
}

// Under faults in 5% of the commands between Focal and MongoDB (dropped
// connections around a command, delayed replies past the operation
// timeout, refused connections), no turn is stored twice or lost, no
// channel identity gets two active sessions, and every client hears its
// committed turn or a retryable error.
func TestTurnsSurviveAFaultyNetwork(t *testing.T) {
	host := mongoHost(t)
	res, err := Run(t.Context(), ReducedConfig(host), zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	require.NoError(t, err)
	requireSurvived(t, res)
}

// The same on PostgreSQL: faults between Focal and PostgreSQL, mid-commit
// too (a COMMIT applied whose reply is lost), on a database of the run's
// own.
func TestPostgresTurnsSurviveAFaultyNetwork(t *testing.T) {
	base := pgtest.ServerURL(t)
	cfg := ReducedConfig(base)
	cfg.Store = StorePostgres
	t.Cleanup(func() {
		require.NoError(t, DropPostgresDB(context.Background(), base, cfg.Database), "drop the run's database")
	})
	res, err := Run(t.Context(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)))
	require.NoError(t, err)
	requireSurvived(t, res)
}

func requireSurvived(t *testing.T, res *Result) {
	t.Helper()
	out, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", out)
	require.Positive(t, res.Proxy.Faulted(), "faults were injected")
	require.Positive(t, res.Proxy.DroppedAfterSend, "commands were applied and their replies lost")
	require.Empty(t, res.Problems)
	require.Zero(t, res.DuplicatedTurns)
	require.Zero(t, res.LostTurns)
	require.Zero(t, res.TwoActiveSessions)
	require.Zero(t, res.UnexpectedAnswers)
	require.Positive(t, res.Answers["200"], "turns got through")
}
