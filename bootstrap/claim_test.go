package bootstrap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An Idempotency-Key is claimed for as long as its request can run (the
// wait for its session, the turn, the commit and its retries, and a
// margin), not for the key's whole retention: a claim whose request died
// frees the key minutes later, not a day later.
func TestIdempotencyClaimOutlivesTheLongestRequest(t *testing.T) {
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": "0123456789abcdef0123456789abcdef"})
	require.NoError(t, err)
	chat := cfg.Chat.application()
	claim := cfg.Chat.claimTTL()
	require.Greater(t, claim, chat.LockWait+chat.TurnTimeout+2*chat.CommitTimeout, "the claim outlives the longest request")
	require.Equal(t, 130*time.Second, claim, "30s lock wait + 60s turn + 2×5s commit + 30s, as docs/storage.md says")
	require.Less(t, claim, cfg.Idempotency.TTL)
}
