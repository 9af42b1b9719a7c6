package httpapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A token checked once is remembered only while it is valid: after its
// expiry it is refused like any expired token.
func TestVerifiedTokensExpire(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	a, err := NewAuthenticator(AuthConfig{Secret: secret})
	require.NoError(t, err)
	tok, err := SignToken(secret, TokenRequest{TenantID: "550e8400-e29b-41d4-a716-446655440000", TTL: 1100 * time.Millisecond}, time.Now())
	require.NoError(t, err)
	p, err := a.Authenticate("Bearer " + tok)
	require.NoError(t, err)
	assert.Equal(t, "550e8400-e29b-41d4-a716-446655440000", p.TenantID)
	_, err = a.Authenticate("Bearer " + tok)
	require.NoError(t, err, "served from the cache")
	time.Sleep(1200 * time.Millisecond)
	_, err = a.Authenticate("Bearer " + tok)
	assert.Error(t, err, "an expired token is refused even though it was cached")
}
