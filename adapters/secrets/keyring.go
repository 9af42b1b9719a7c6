// Package secrets seals secrets at rest with AES-256-GCM under the
// service's key (FOCAL_SECRET_KEY), keeping old keys readable so they can
// be rotated out.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"focal/domain"
	"focal/ports"
)

// Config names the keys. Keys are 32 bytes, written in base64 (standard or
// URL alphabet, padded or not) or hex.
type Config struct {
	// Key seals every new secret; empty disables storing secrets.
	Key string `env:"SECRET_KEY" yaml:"key"`
	// OldKeys still open what they sealed, until `focal keys rotate` has
	// sealed it again under Key.
	OldKeys []string `env:"SECRET_KEYS_OLD" yaml:"old_keys"`
}

// Validate checks that every key decodes to 32 bytes, without ever
// quoting one.
func (c Config) Validate() error {
	if c.Key == "" && len(c.OldKeys) > 0 {
		return errors.New("FOCAL_SECRET_KEYS_OLD needs FOCAL_SECRET_KEY: old keys only open what a current key will seal again")
	}
	if c.Key != "" {
		if _, err := decodeKey(c.Key); err != nil {
			return fmt.Errorf("FOCAL_SECRET_KEY: %w", err)
		}
	}
	for i, k := range c.OldKeys {
		if _, err := decodeKey(k); err != nil {
			return fmt.Errorf("FOCAL_SECRET_KEYS_OLD: key %d: %w", i+1, err)
		}
	}
	return nil
}

// Enabled reports whether a key is configured.
func (c Config) Enabled() bool { return c.Key != "" }

// decodeKey reads a 32-byte key in hex or base64.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("must be 32 bytes in hex (64 characters) or base64 (44 characters); generate one with `openssl rand -base64 32`")
}

// Keyring seals with its current key and opens with any of its keys. It is
// a ports.SecretSealer, safe for concurrent use.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

var _ ports.SecretSealer = (*Keyring)(nil)

// NewKeyring builds the keyring of cfg; cfg must be enabled and valid.
func NewKeyring(cfg Config) (*Keyring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("no secret key is configured (FOCAL_SECRET_KEY)")
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, s := range append([]string{cfg.Key}, cfg.OldKeys...) {
		raw, _ := decodeKey(s) // Validate decoded it
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(raw)
		if i == 0 {
			k.current = id
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// KeyID names a key without revealing it: the first 8 bytes, in hex, of
// its SHA-256 under a label of its own.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("focal secret key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// KeyID implements ports.SecretSealer.
func (k *Keyring) KeyID() string { return k.current }

// Seal implements ports.SecretSealer: AES-256-GCM with a random nonce and
// the context as additional data, so a sealed secret opens only for what
// it was sealed for.
func (k *Keyring) Seal(plaintext, context []byte) (ports.SealedSecret, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return ports.SealedSecret{}, domain.WrapError(domain.CodeInternal, err, "a secret cannot be sealed")
	}
	return ports.SealedSecret{KeyID: k.current, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, plaintext, context)}, nil
}

// Open implements ports.SecretSealer.
func (k *Keyring) Open(s ports.SealedSecret, context []byte) ([]byte, error) {
	aead, ok := k.aeads[s.KeyID]
	if !ok {
		return nil, domain.Errorf(domain.CodeInternal, "a secret was sealed with key %s, which is not configured (FOCAL_SECRET_KEY, FOCAL_SECRET_KEYS_OLD)", s.KeyID)
	}
	if len(s.Nonce) != aead.NonceSize() {
		return nil, domain.Errorf(domain.CodeInternal, "a sealed secret is damaged")
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, context)
	if err != nil {
		return nil, domain.Errorf(domain.CodeInternal, "a sealed secret does not open: damaged, or sealed for something else")
	}
	return plain, nil
}
