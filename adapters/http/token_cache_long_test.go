//go:build !race

// The token caches' long sequential tests: cached answers against a fresh
// parse over thousands of steps, and the verified cache's bound over
// 10,010 signed tokens, sequential work the race detector slows fourfold
// (3 s under it, under 1 s without) and has nothing to find in. They build without it; make test
// runs them in a pass without -race (scripts/test.sh). The caches run
// under -race in the package's other tests.

package httpapi

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cache is keyed by the whole token: a token whose payload is one
// already verified but whose signature is another is checked, and refused,
// and the cache holds at most verifiedTokens tokens however many are seen.
func TestVerifiedTokensAreKeyedByTheWholeTokenAndBounded(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	clock := &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	a, err := NewAuthenticator(AuthConfig{Secret: secret}, clock)
	require.NoError(t, err)
	tok, err := SignToken(secret, TokenRequest{TenantID: tenant, TTL: time.Minute}, clock.Now())
	require.NoError(t, err)
	_, err = a.Authenticate("Bearer " + tok)
	require.NoError(t, err)

	forged, err := SignToken("another-secret-another-secret-00000", TokenRequest{TenantID: tenant, TTL: time.Minute}, clock.Now())
	require.NoError(t, err)
	require.Equal(t, tok[:strings.LastIndexByte(tok, '.')], forged[:strings.LastIndexByte(forged, '.')], "the same header and claims")
	_, err = a.Authenticate("Bearer " + forged)
	assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid, "another signature is refused while the genuine token is cached")

	for i := range verifiedTokens + 10 {
		other, err := SignToken(secret, TokenRequest{TenantID: tenant, Subject: strconv.Itoa(i), TTL: time.Minute}, clock.Now())
		require.NoError(t, err)
		_, err = a.Authenticate("Bearer " + other)
		require.NoError(t, err)
	}
	assert.Equal(t, verifiedTokens, a.verified.Len(), "the cache stays bounded")
	p, err := a.Authenticate("Bearer " + tok)
	require.NoError(t, err, "a token pushed out of the cache is verified again")
	assert.Equal(t, tenant, p.TenantID)
}

// Whatever the caches hold (the lock-free slots, the LRU), a token is
// answered as a fresh authenticator, which parses it, answers it: the
// same caller, or the same refusal, as the clock moves past tokens'
// nbf and expiry and tokens share slots.
func TestCachedTokensAreAnsweredAsParsedOnes(t *testing.T) {
	const secret = "unit-test-secret-unit-test-secret-000"
	const tenant = "550e8400-e29b-41d4-a716-446655440000"
	clock := &testClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	a, err := NewAuthenticator(AuthConfig{Secret: secret, Leeway: 5 * time.Second}, clock)
	require.NoError(t, err)
	var tokens []string
	for i := range 2 * recentTokens {
		from := clock.Now().Add(time.Duration(i%7-2) * 10 * time.Second)
		tok, err := SignToken(secret, TokenRequest{TenantID: tenant, Subject: strconv.Itoa(i), TTL: time.Duration(1+i%5) * 20 * time.Second}, from)
		require.NoError(t, err)
		tokens = append(tokens, tok)
	}
	for step := range 4000 {
		if step%50 == 0 {
			clock.Advance(3 * time.Second)
		}
		tok := tokens[(step*7919)%len(tokens)]
		got, gotErr := a.Authenticate("Bearer " + tok)
		fresh, err := NewAuthenticator(AuthConfig{Secret: secret, Leeway: 5 * time.Second}, clock)
		require.NoError(t, err)
		want, wantErr := fresh.Authenticate("Bearer " + tok)
		require.Equal(t, want, got, "step %d", step)
		require.Equal(t, wantErr == nil, gotErr == nil, "step %d: %v, parsed: %v", step, gotErr, wantErr)
		if wantErr != nil {
			require.Equal(t, errors.Unwrap(wantErr).Error(), errors.Unwrap(gotErr).Error(), "step %d", step)
		}
	}
}
