package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/adapters/secrets"
	"focal/test/fakellm"
	"focal/test/harness"
)

func newSecretKey(t *testing.T) ([]byte, string) {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k, base64.StdEncoding.EncodeToString(k)
}

// A tenant's key sealed under one service key stays usable across a
// rotation: an instance with only the new key cannot open it, `focal keys
// rotate` (new key, old key as an old one) seals it again, and then that
// instance uses it. In the store the key is only ever ciphertext.
func TestKeysRotate(t *testing.T) {
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	oldRaw, oldKey := newSecretKey(t)
	newRaw, newKey := newSecretKey(t)
	env := mongoEnv(t, map[string]string{"FOCAL_TENANT_MODEL_HOSTS": "127.0.0.1", "FOCAL_TENANT_KEYS_REFRESH": "0s"})
	withKeys := func(current string, old ...string) map[string]string {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["FOCAL_SECRET_KEY"] = current
		if len(old) > 0 {
			e["FOCAL_SECRET_KEYS_OLD"] = old[0]
		}
		return e
	}
	const tenantKey = "sk-rotated-0123456789abcdef"
	tenant := uuid.NewString()
	admin, user := harness.Token(t, tenant, "admin"), harness.Token(t, tenant)
	turn := func(app *harness.App) *harness.Response {
		return app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: user, Body: plainBody("rotating", "Hello")})
	}

	before := startOnFakeModel(t, fake, withKeys(oldKey))
	res := before.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + plainAgent + "/bundle", Token: admin,
		Body: map[string]any{"agent": map[string]any{"id": plainAgent, "name": "plain"}}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	res = before.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/tenant/models/openai", Token: admin,
		Body: map[string]any{"key": tenantKey, "base_url": fake.URL() + "/v1"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, http.StatusOK, turn(before).Status)
	before.Stop(t)

	after := startOnFakeModel(t, fake, withKeys(newKey))
	res = turn(after)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "the new key alone cannot open it: %s", res.Body)
	assert.NotContains(t, string(res.Body), tenantKey)

	cmd := exec.Command(focalBinary(t), "keys", "rotate")
	cmd.Env = append(os.Environ(), "FOCAL_JWT_SECRET="+e2eSecret)
	for k, v := range withKeys(newKey, oldKey) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "1 resealed, 0 already sealed with the current key")

	res = turn(after)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	reqs := fake.Requests()
	assert.Equal(t, "Bearer "+tenantKey, reqs[len(reqs)-1].Header.Get("Authorization"))

	// In the store: sealed under the new key, never in clear.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mdb.Connect(options.Client().ApplyURI(mongoURI(t)))
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(context.Background()) }()
	cur, err := client.Database(env["FOCAL_MONGO_DB"]).Collection("tenant_model_keys").Find(ctx, bson.D{{Key: "tenant_id", Value: tenant}},
		options.Find().SetSort(bson.D{{Key: "revision", Value: -1}}))
	require.NoError(t, err)
	var docs []bson.M
	require.NoError(t, cur.All(ctx, &docs))
	require.NotEmpty(t, docs)
	for _, d := range docs {
		raw, err := bson.Marshal(d)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), tenantKey[:10])
	}
	newest := docs[0]
	assert.Equal(t, secrets.KeyID(newRaw), newest["key_id"])
	assert.NotEqual(t, secrets.KeyID(oldRaw), newest["key_id"])
}
