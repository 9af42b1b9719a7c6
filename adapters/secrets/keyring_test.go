package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// A sealed secret opens with its context under the key that sealed it,
// also after that key became an old one; not under a context it was not
// sealed for, nor once its key is gone.
func TestKeyringSealsAndRotates(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	ring1, err := NewKeyring(Config{Key: base64.StdEncoding.EncodeToString(k1)})
	require.NoError(t, err)
	sealed, err := ring1.Seal([]byte("sk-tenant-secret"), []byte("tenant-a\x00openai"))
	require.NoError(t, err)
	assert.Equal(t, KeyID(k1), sealed.KeyID)
	assert.NotContains(t, string(sealed.Ciphertext), "sk-tenant-secret")

	plain, err := ring1.Open(sealed, []byte("tenant-a\x00openai"))
	require.NoError(t, err)
	assert.Equal(t, "sk-tenant-secret", string(plain))
	_, err = ring1.Open(sealed, []byte("tenant-b\x00openai"))
	assert.True(t, domain.IsCode(err, domain.CodeInternal), "another tenant's context: %v", err)

	ring2, err := NewKeyring(Config{Key: hex.EncodeToString(k2), OldKeys: []string{base64.RawURLEncoding.EncodeToString(k1)}})
	require.NoError(t, err)
	assert.Equal(t, KeyID(k2), ring2.KeyID())
	plain, err = ring2.Open(sealed, []byte("tenant-a\x00openai"))
	require.NoError(t, err, "an old key still opens")
	assert.Equal(t, "sk-tenant-secret", string(plain))
	resealed, err := ring2.Seal(plain, []byte("tenant-a\x00openai"))
	require.NoError(t, err)
	assert.Equal(t, KeyID(k2), resealed.KeyID)

	ring3, err := NewKeyring(Config{Key: hex.EncodeToString(k2)})
	require.NoError(t, err)
	_, err = ring3.Open(sealed, []byte("tenant-a\x00openai"))
	require.Error(t, err, "a retired key opens nothing")
	assert.Contains(t, err.Error(), KeyID(k1))
	plain, err = ring3.Open(resealed, []byte("tenant-a\x00openai"))
	require.NoError(t, err)
	assert.Equal(t, "sk-tenant-secret", string(plain))

	sealed.Ciphertext[0] ^= 1
	_, err = ring1.Open(sealed, []byte("tenant-a\x00openai"))
	assert.Error(t, err, "tampered ciphertext")
}

// A key of the wrong size is refused, and the error never quotes it.
func TestKeyringConfigErrorsQuoteNoKey(t *testing.T) {
	for _, cfg := range []Config{
		{Key: "too-short-secret"},
		{Key: base64.StdEncoding.EncodeToString(make([]byte, 16))},
		{Key: hex.EncodeToString(newKey(t)), OldKeys: []string{"also-not-a-key"}},
		{OldKeys: []string{hex.EncodeToString(newKey(t))}},
	} {
		err := cfg.Validate()
		require.Error(t, err)
		for _, k := range append([]string{cfg.Key}, cfg.OldKeys...) {
			if k != "" {
				assert.False(t, strings.Contains(err.Error(), k), "the error quotes a key: %v", err)
			}
		}
	}
	assert.NoError(t, Config{}.Validate(), "no key: storing secrets is off")
}
