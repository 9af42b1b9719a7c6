package tools

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"time"

	"focal/domain"
)

// Headers of a tool call. Every attempt of a call carries the same
// Idempotency-Key, "<turn_id>:<tool_id>", and the same body, so a tool can
// tell a retry from a new call; a tool with a secret gets every attempt
// signed.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderSignature      = "Focal-Signature"
)

// SecretEnvPrefix starts the environment variable a tool's secret_env
// names: secret_env ORDERS is FOCAL_TOOL_SECRET_ORDERS.
const SecretEnvPrefix = "FOCAL_TOOL_SECRET_"

// Sign is the Focal-Signature of body sent at t with secret:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">". The timestamp
// is signed with the body so a receiver can refuse a replay of an old
// call.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// secretOf returns the key that signs tool's calls for tenantID, nil for a
// tool without a secret. A secret_env's value is "<tenant id>:<secret>":
// the operator says which tenant may sign with it, so no tenant can have
// its calls signed with another's key by naming its variable. A variable
// that is missing, malformed or another tenant's is one error, "not
// available", that tells the tenant nothing more.
func secretOf(tool domain.Tool, tenantID string) ([]byte, bool) {
	switch {
	case tool.Secret != "":
		return []byte(tool.Secret), true
	case tool.SecretEnv == "":
		return nil, true
	}
	value, ok := os.LookupEnv(SecretEnvPrefix + tool.SecretEnv)
	tenant, secret, scoped := strings.Cut(value, ":")
	if !ok || !scoped || secret == "" || tenantID == "" || !strings.EqualFold(tenant, tenantID) {
		return nil, false
	}
	return []byte(secret), true
}
