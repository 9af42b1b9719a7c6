package httpapi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// testClock is a ports.Clock that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After is the wall clock's: nothing here waits on this clock.
func (c *testClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *testClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A token checked once is remembered only while it is valid: after its
// expiry (and the leeway) it is refused like any expired token, and before
// its nbf it is refused too.
func TestVerifiedTokensExpire(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	clock := &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	a, err := NewAuthenticator(AuthConfig{Secret: secret, Leeway: 5 * time.Second}, clock)
	require.NoError(t, err)
	tok, err := SignToken(secret, TokenRequest{TenantID: tenant, TTL: time.Minute}, clock.Now())
	require.NoError(t, err)
	p, err := a.Authenticate("Bearer " + tok)
	require.NoError(t, err)
	assert.Equal(t, tenant, p.TenantID)

	clock.Advance(time.Minute + 5*time.Second - time.Nanosecond)
	_, err = a.Authenticate("Bearer " + tok)
	require.NoError(t, err, "served from the cache until the expiry and leeway are over")
	clock.Advance(time.Nanosecond)
	_, err = a.Authenticate("Bearer " + tok)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCodeOf(err), "an expired token is refused even though it was cached")
	assert.ErrorIs(t, err, jwt.ErrTokenExpired, "and the parser, on the same clock, says why")

	// A token valid from later on is refused until then, cached or not.
	later, err := SignToken(secret, TokenRequest{TenantID: tenant, TTL: time.Hour}, clock.Now().Add(time.Minute))
	require.NoError(t, err)
	_, err = a.Authenticate("Bearer " + later)
	assert.ErrorIs(t, err, jwt.ErrTokenNotValidYet)
	clock.Advance(time.Minute)
	_, err = a.Authenticate("Bearer " + later)
	require.NoError(t, err)
}

// A token may live at most FOCAL_JWT_MAX_TTL, counted from iat, or from now
// when it has none: a 100-year token is refused even though it is signed.
func TestTokensLivingTooLongAreRefused(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	a, err := NewAuthenticator(AuthConfig{Secret: secret, Leeway: 5 * time.Second}, clock.System{})
	require.NoError(t, err)
	now := time.Now()
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		require.NoError(t, err)
		return tok
	}
	for name, tt := range map[string]struct {
		claims jwt.MapClaims
		ok     bool
	}{
		"100 years":            {jwt.MapClaims{"tenant_id": tenant, "iat": now.Unix(), "exp": now.AddDate(100, 0, 0).Unix()}, false},
		"25 hours":             {jwt.MapClaims{"tenant_id": tenant, "iat": now.Unix(), "exp": now.Add(25 * time.Hour).Unix()}, false},
		"48 hours without iat": {jwt.MapClaims{"tenant_id": tenant, "exp": now.Add(48 * time.Hour).Unix()}, false},
		"24 hours":             {jwt.MapClaims{"tenant_id": tenant, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}, true},
		"an hour without iat":  {jwt.MapClaims{"tenant_id": tenant, "exp": now.Add(time.Hour).Unix()}, true},
	} {
		_, err := a.Authenticate("Bearer " + sign(tt.claims))
		if tt.ok {
			assert.NoError(t, err, name)
		} else {
			assert.Error(t, err, name)
			assert.Contains(t, errors.Unwrap(err).Error(), "FOCAL_JWT_MAX_TTL", name)
		}
	}
	short, err := NewAuthenticator(AuthConfig{Secret: secret, MaxTTL: time.Hour}, clock.System{})
	require.NoError(t, err)
	_, err = short.Authenticate("Bearer " + sign(jwt.MapClaims{"tenant_id": tenant, "iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix()}))
	assert.Error(t, err, "the limit is configurable")
}

// A tenant_id claim in upper case names the same tenant as in lower case:
// the caller is the lower-case tenant, and so is its rate limit key.
func TestUpperCaseTenantIDAuthenticatesAsTheLowerCaseTenant(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	a, err := NewAuthenticator(AuthConfig{Secret: secret}, clock.System{})
	require.NoError(t, err)
	tok, err := SignToken(secret, TokenRequest{TenantID: strings.ToUpper(tenant), TTL: time.Minute}, time.Now())
	require.NoError(t, err)
	p, err := a.Authenticate("Bearer " + tok)
	require.NoError(t, err)
	assert.Equal(t, tenant, p.TenantID)
	assert.Equal(t, "tenant:"+tenant, p.rateLimitKey())
}

// With both an HMAC secret and an RSA public key configured, HS256 and
// RS256 tokens are both accepted; an HS256 token whose secret is the
// public key's PEM (algorithm confusion: the key is public) is refused.
func TestHMACAndRSAKeysTogetherAcceptEachItsOwnAlgorithmOnly(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keyFile := filepath.Join(t.TempDir(), "jwt.pub")
	require.NoError(t, os.WriteFile(keyFile, pubPEM, 0o600))
	a, err := NewAuthenticator(AuthConfig{Secret: secret, PublicKeyFile: keyFile}, clock.System{})
	require.NoError(t, err)

	now := time.Now()
	claims := jwt.MapClaims{"tenant_id": tenant, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	require.NoError(t, err)
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(priv)
	require.NoError(t, err)
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pubPEM)
	require.NoError(t, err)

	for name, tok := range map[string]string{"HS256": hs, "RS256": rs} {
		p, err := a.Authenticate("Bearer " + tok)
		require.NoError(t, err, name)
		assert.Equal(t, tenant, p.TenantID, name)
	}
	_, err = a.Authenticate("Bearer " + confused)
	assert.Equal(t, domain.CodeUnauthenticated, domain.ErrorCodeOf(err), "an HS256 token signed with the public key")
	assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
}
