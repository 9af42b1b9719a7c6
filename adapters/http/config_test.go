package httpapi

import (
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// operations.md: FOCAL_JWT_SECRET has at least 32 bytes, so an HS256 key
// cannot be guessed from a short password.
func TestJWTSecretIsAtLeast32Bytes(t *testing.T) {
	err := AuthConfig{Secret: strings.Repeat("s", 31)}.Validate()
	assert.ErrorContains(t, err, "FOCAL_JWT_SECRET must be at least 32 bytes")
	assert.NoError(t, AuthConfig{Secret: strings.Repeat("s", 32)}.Validate())
}

// operations.md: FOCAL_METRICS_TOKEN, when set, has at least 16 characters.
func TestMetricsTokenIsAtLeast16Characters(t *testing.T) {
	var c Config
	require.NoError(t, env.ParseWithOptions(&c, env.Options{Prefix: "FOCAL_", Environment: map[string]string{}}))
	require.NoError(t, c.Validate(), "the defaults")
	c.MetricsToken = strings.Repeat("m", 15)
	assert.ErrorContains(t, c.Validate(), "FOCAL_METRICS_TOKEN must be at least 16 characters")
	c.MetricsToken = strings.Repeat("m", 16)
	assert.NoError(t, c.Validate())
}

// operations.md's memory bounds table: 10,000 verified bearer tokens
// (TestVerifiedTokensAreKeyedByTheWholeTokenAndBounded holds the cache to
// the constant).
func TestOperationsDocStatesTheVerifiedTokens(t *testing.T) {
	assert.Equal(t, 10_000, verifiedTokens)
}
