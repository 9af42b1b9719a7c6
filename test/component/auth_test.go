package component

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

func writePublicKey(t *testing.T, pub any) (path string, pemBytes []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	pemBytes = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path = filepath.Join(t.TempDir(), "jwt.pub")
	require.NoError(t, os.WriteFile(path, pemBytes, 0o600))
	return path, pemBytes
}

// With a public key, iss and aud configured, every negative case is 401
// and a token right in every way gets through.
func TestAuthenticationWithPublicKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPath, rsaPEM := writePublicKey(t, &rsaKey.PublicKey)
	app := harness.Start(t, map[string]string{
		"FOCAL_JWT_SECRET":          "",
		"FOCAL_JWT_PUBLIC_KEY_FILE": rsaPath,
		"FOCAL_JWT_ISSUER":          "https://idp.example",
		"FOCAL_JWT_AUDIENCE":        "focal-api",
	})
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"tenant_id": harness.DemoTenant, "iss": "https://idp.example", "aud": "focal-api",
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	call := func(token string) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Body: harness.ChatBody("pk", "hello"),
			Headers: map[string]string{"Authorization": "Bearer " + token}})
	}

	ok := call(signed(t, jwt.SigningMethodRS256, rsaKey, claims(nil)))
	require.Equal(t, http.StatusOK, ok.Status, "%s", ok.Body)

	bad := map[string]string{
		"wrong issuer":   signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		"wrong audience": signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { c["aud"] = "other-api" })),
		"no audience":    signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		"wrong key":      signed(t, jwt.SigningMethodRS256, otherRSA, claims(nil)),
		"expired":        signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"not yet valid":  signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		// Algorithm confusion: an HS256 token whose "secret" is the public key.
		"HS256 signed with the public key": signed(t, jwt.SigningMethodHS256, rsaPEM, claims(nil)),
		"alg none":                         signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
		"missing tenant":                   signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { delete(c, "tenant_id") })),
		"tenant not a UUID":                signed(t, jwt.SigningMethodRS256, rsaKey, claims(func(c jwt.MapClaims) { c["tenant_id"] = "42" })),
		"PS256 is not configured":          signed(t, jwt.SigningMethodPS256, rsaKey, claims(nil)),
	}
	for name, token := range bad {
		t.Run(name, func(t *testing.T) {
			requireError(t, call(token), http.StatusUnauthorized, "UNAUTHENTICATED")
		})
	}
}

func TestAuthenticationWithES256(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	path, _ := writePublicKey(t, &ecKey.PublicKey)
	app := harness.Start(t, map[string]string{"FOCAL_JWT_SECRET": "", "FOCAL_JWT_PUBLIC_KEY_FILE": path})
	claims := jwt.MapClaims{"tenant_id": harness.DemoTenant, "exp": time.Now().Add(time.Hour).Unix()}
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Body: harness.ChatBody("ec", "hello"),
		Headers: map[string]string{"Authorization": "Bearer " + signed(t, jwt.SigningMethodES256, ecKey, claims)}})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	// An HS256 token is refused when only a public key is configured.
	res = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Body: harness.ChatBody("ec", "hello"),
		Headers: map[string]string{"Authorization": "Bearer " + signed(t, jwt.SigningMethodHS256, []byte(harness.Secret), claims)}})
	requireError(t, res, http.StatusUnauthorized, "UNAUTHENTICATED")
}

// Another tenant's sessions and turns do not exist for a caller; deleting
// a session needs the admin role.
func TestTenantIsolationAndAdminRole(t *testing.T) {
	app := harness.Start(t, nil)
	owner := harness.Token(t, harness.DemoTenant)
	_, first := chat(t, app, owner, harness.ChatBody("iso", "hello"))
	sessionID, turnID := first["session_id"].(string), first["turn_id"].(string)

	stranger := harness.Token(t, "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "admin")
	for _, r := range []harness.Request{
		{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID},
		{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID + "/turns"},
		{Method: http.MethodPost, Path: "/v1/sessions/" + sessionID + "/close"},
		{Method: http.MethodDelete, Path: "/v1/sessions/" + sessionID},
	} {
		r.Token = stranger
		requireError(t, app.Do(t, r), http.StatusNotFound, "SESSION_NOT_FOUND")
	}
	requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: stranger}),
		http.StatusNotFound, "TURN_NOT_FOUND")

	// The owner without admin may not delete; with admin it may, and the
	// turns go with the session.
	requireError(t, app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/sessions/" + sessionID, Token: owner}),
		http.StatusForbidden, "FORBIDDEN")
	admin := harness.Token(t, harness.DemoTenant, "admin")
	res := app.Do(t, harness.Request{Method: http.MethodDelete, Path: "/v1/sessions/" + sessionID, Token: admin})
	require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: owner}),
		http.StatusNotFound, "TURN_NOT_FOUND")
}

// No token, secret or key reaches the logs, whatever the request carries
// and however it fails.
func TestNoSecretInLogs(t *testing.T) {
	app, logs := harness.StartObserved(t, map[string]string{"FOCAL_LOG_LEVEL": "debug"})
	good := harness.Token(t, harness.DemoTenant)
	bad := good[:len(good)-4] + "AAAA"
	for _, tok := range []string{good, bad} {
		app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: tok, Body: harness.ChatBody("logs", "hello")})
		app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/nope", Token: tok})
	}
	require.NotZero(t, logs.Len(), "the requests were logged")
	for _, entry := range logs.All() {
		line := entry.Message
		for _, f := range entry.Context {
			line += fmt.Sprintf(" %s=%v%s", f.Key, f.Interface, f.String)
		}
		for _, secret := range []string{good, bad, strings.Split(good, ".")[2], harness.Secret} {
			assert.NotContains(t, line, secret)
		}
	}
}
