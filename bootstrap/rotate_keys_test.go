package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/secrets"
	"focal/application"
	"focal/ports"
	"focal/test/pgtest"
)

// `focal keys rotate` reseals the tenants' keys in every store that keeps
// them (docs/operations.md, "Rotating the secret key"); MongoDB's run is
// test/e2e's TestKeysRotate, through the binary.
func TestRotateKeysOnSQLite(t *testing.T) {
	rotateKeysOn(t, map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": filepath.Join(t.TempDir(), "focal.db")})
}

func TestRotateKeysOnPostgres(t *testing.T) {
	// A database of the test's own: a rotation reseals every tenant's key
	// in the database, so it must hold only this test's.
	rotateKeysOn(t, map[string]string{"FOCAL_STORE": "postgres", "FOCAL_POSTGRES_URL": pgtest.Database(t, "focal_bootstrap")})
}

// The memory store keeps no key past a restart: nothing to rotate, and the
// command says so instead of reporting nothing resealed.
func TestRotateKeysRefusesTheMemoryStore(t *testing.T) {
	_, key := newServiceKey(t)
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": strings.Repeat("s", 32), "FOCAL_SECRET_KEY": key})
	require.NoError(t, err)
	_, err = RotateKeys(context.Background(), cfg, zap.NewNop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the memory store keeps nothing between runs")
}

// rotateKeysOn puts a tenant's key under an old service key, rotates to a
// new one, and reads the key back with the new key alone.
func rotateKeysOn(t *testing.T, store map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oldRaw, oldKey := newServiceKey(t)
	newRaw, newKey := newServiceKey(t)
	config := func(current string, old ...string) Config {
		env := map[string]string{"FOCAL_JWT_SECRET": strings.Repeat("s", 32), "FOCAL_SECRET_KEY": current}
		if len(old) > 0 {
			env["FOCAL_SECRET_KEYS_OLD"] = old[0]
		}
		maps.Copy(env, store)
		cfg, err := LoadConfigEnv("", env)
		require.NoError(t, err)
		return cfg
	}
	const tenantKey = "sk-rotated-0123456789abcdef"
	tenant := uuid.NewString()
	var keys *application.TenantKeys
	stop, err := startKeyStore(ctx, config(oldKey), zap.NewNop(), &keys)
	require.NoError(t, err)
	_, err = keys.Put(ctx, application.ModelKeyCommand{TenantID: tenant, Provider: "openai", Key: tenantKey})
	require.NoError(t, err)
	stop()

	_, err = RotateKeys(ctx, config(newKey), zap.NewNop())
	require.Error(t, err, "without the old key the stored key cannot be opened")
	res, err := RotateKeys(ctx, config(newKey, oldKey), zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, application.RotateResult{Resealed: 1}, res)

	var kept ports.TenantModelKeyStore
	stop, err = startKeyStore(ctx, config(newKey), zap.NewNop(), &keys, &kept)
	require.NoError(t, err)
	defer stop()
	creds, err := keys.Credentials(ctx, tenant)
	require.NoError(t, err)
	require.Len(t, creds, 1)
	assert.Equal(t, tenantKey, creds[0].APIKey, "the new key alone opens it")
	stored, err := kept.TenantModelKeys(ctx, tenant)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	assert.Equal(t, secrets.KeyID(newRaw), stored[0].Secret.KeyID)
	assert.NotEqual(t, secrets.KeyID(oldRaw), stored[0].Secret.KeyID)

	res, err = RotateKeys(ctx, config(newKey, oldKey), zap.NewNop())
	require.NoError(t, err)
	assert.Equal(t, application.RotateResult{Current: 1}, res, "a second run has nothing left to reseal")
}

func newServiceKey(t *testing.T) ([]byte, string) {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k, base64.StdEncoding.EncodeToString(k)
}
