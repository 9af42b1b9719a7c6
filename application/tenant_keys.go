package application

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"focal/domain"
	"focal/ports"
)

// ModelProviders are the providers a tenant may store a key for.
var ModelProviders = []string{"anthropic", "openai"}

// Limits of a stored model key.
const (
	maxModelKeyLength = 512
	maxAllowedModels  = 64
)

// TenantKeysConfig says what tenants may store.
type TenantKeysConfig struct {
	// BaseURLHosts are the hosts a tenant's base URL may name; with none,
	// a tenant's key is only ever sent to its provider's own API, so a
	// tenant cannot make the service call arbitrary hosts.
	BaseURLHosts []string
}

// ModelKeyCommand sets a tenant's own key for one provider.
type ModelKeyCommand struct {
	TenantID string
	Provider string
	Key      string
	BaseURL  string
	Models   []string
}

// ModelKeyView is all of a stored key a client ever sees.
type ModelKeyView struct {
	Provider string `json:"provider"`
	// KeyLast4 is the key's last four characters.
	KeyLast4 string    `json:"key_last4"`
	BaseURL  string    `json:"base_url"`
	Models   []string  `json:"models"`
	SetAt    time.Time `json:"set_at"`
}

// TenantKeys is the use case of tenants' own model keys: stored sealed,
// shown only by their last four characters, opened only for the model
// adapter, re-sealed under a new service key by Rotate.
type TenantKeys struct {
	cfg    TenantKeysConfig
	store  ports.TenantModelKeyStore
	sealer ports.SecretSealer // nil: storing keys is off
	clock  ports.Clock
}

// NewTenantKeys returns the use case; a nil sealer turns storing keys off
// (no FOCAL_SECRET_KEY).
func NewTenantKeys(cfg TenantKeysConfig, store ports.TenantModelKeyStore, sealer ports.SecretSealer, clock ports.Clock) (*TenantKeys, error) {
	if store == nil || clock == nil {
		return nil, errors.New("tenant keys: store and clock are required")
	}
	return &TenantKeys{cfg: cfg, store: store, sealer: sealer, clock: clock}, nil
}

// sealContext binds a sealed key to its tenant and provider: a record
// copied to another tenant does not open.
func sealContext(tenantID, provider string) []byte {
	return []byte("tenant model key\x00" + tenantID + "\x00" + provider)
}

func (k *TenantKeys) validate(cmd ModelKeyCommand) error {
	var bad []domain.FieldError
	if !slices.Contains(ModelProviders, cmd.Provider) {
		bad = append(bad, domain.FieldError{Field: "provider", Message: "must be " + strings.Join(ModelProviders, " or ")})
	}
	if len(cmd.Key) < 8 || len(cmd.Key) > maxModelKeyLength || strings.IndexFunc(cmd.Key, notKeyRune) >= 0 {
		bad = append(bad, domain.FieldError{Field: "key", Message: fmt.Sprintf("must be 8..%d printable characters without spaces", maxModelKeyLength)})
	}
	if cmd.BaseURL != "" {
		if msg := k.baseURLProblem(cmd.BaseURL); msg != "" {
			bad = append(bad, domain.FieldError{Field: "base_url", Message: msg})
		}
	}
	if len(cmd.Models) > maxAllowedModels {
		bad = append(bad, domain.FieldError{Field: "models", Message: fmt.Sprintf("at most %d models", maxAllowedModels)})
	}
	for i, m := range cmd.Models {
		if m == "" || len(m) > 128 || strings.IndexFunc(m, notKeyRune) >= 0 {
			bad = append(bad, domain.FieldError{Field: fmt.Sprintf("models[%d]", i), Message: "must be a model name of 1..128 printable characters"})
		}
	}
	if len(bad) > 0 {
		return domain.InvalidFields(bad...)
	}
	return nil
}

func notKeyRune(r rune) bool {
	return r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r)
}

// baseURLProblem says what is wrong with a tenant's base URL, or "".
func (k *TenantKeys) baseURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "must be an absolute http(s) URL"
	case u.User != nil:
		return "must not carry credentials"
	case !slices.Contains(k.cfg.BaseURLHosts, u.Hostname()):
		if len(k.cfg.BaseURLHosts) == 0 {
			return "is not allowed on this service: keys go to their provider's own API"
		}
		return "must name one of the hosts this service allows: " + strings.Join(k.cfg.BaseURLHosts, ", ")
	}
	return ""
}

// Put stores the tenant's key for a provider, sealed, replacing any.
//
// Errors: INVALID_REQUEST, FORBIDDEN (the service stores no keys: no
// FOCAL_SECRET_KEY), STORE_UNAVAILABLE.
func (k *TenantKeys) Put(ctx context.Context, cmd ModelKeyCommand) (ModelKeyView, error) {
	if err := k.validate(cmd); err != nil {
		return ModelKeyView{}, err
	}
	if k.sealer == nil {
		return ModelKeyView{}, domain.Errorf(domain.CodeForbidden, "this service stores no tenant model keys: FOCAL_SECRET_KEY is not set")
	}
	sealed, err := k.sealer.Seal([]byte(cmd.Key), sealContext(cmd.TenantID, cmd.Provider))
	if err != nil {
		return ModelKeyView{}, err
	}
	rec := ports.TenantModelKey{TenantID: cmd.TenantID, Provider: cmd.Provider, Secret: sealed, Hint: cmd.Key[len(cmd.Key)-4:],
		BaseURL: cmd.BaseURL, Models: slices.Clone(cmd.Models), SetAt: k.clock.Now().UTC()}
	if _, err := k.store.PutTenantModelKey(ctx, rec); err != nil {
		return ModelKeyView{}, err
	}
	return viewOfKey(rec), nil
}

func viewOfKey(r ports.TenantModelKey) ModelKeyView {
	models := r.Models
	if models == nil {
		models = []string{}
	}
	return ModelKeyView{Provider: r.Provider, KeyLast4: r.Hint, BaseURL: r.BaseURL, Models: models, SetAt: r.SetAt}
}

// List shows the tenant's keys by their last four characters.
// STORE_UNAVAILABLE.
func (k *TenantKeys) List(ctx context.Context, tenantID string) ([]ModelKeyView, error) {
	keys, err := k.store.TenantModelKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]ModelKeyView, len(keys))
	for i, r := range keys {
		out[i] = viewOfKey(r)
	}
	return out, nil
}

// Delete removes the tenant's key for provider; its turns use the
// service's key again. NOT_FOUND, STORE_UNAVAILABLE.
func (k *TenantKeys) Delete(ctx context.Context, tenantID, provider string) error {
	if !slices.Contains(ModelProviders, provider) {
		return domain.Errorf(domain.CodeNotFound, "no %s key is set", provider)
	}
	return k.store.DeleteTenantModelKey(ctx, tenantID, provider)
}

// Credentials opens the tenant's keys for the chat model. They never go
// to a client or a log. INTERNAL_ERROR when a key does not open (sealed
// under a key the service no longer has), STORE_UNAVAILABLE.
func (k *TenantKeys) Credentials(ctx context.Context, tenantID string) ([]ports.ModelCredential, error) {
	keys, err := k.store.TenantModelKeys(ctx, tenantID)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	if k.sealer == nil {
		return nil, domain.Errorf(domain.CodeInternal, "tenant %s has model keys but FOCAL_SECRET_KEY is not set to open them", tenantID)
	}
	out := make([]ports.ModelCredential, 0, len(keys))
	for _, r := range keys {
		plain, err := k.sealer.Open(r.Secret, sealContext(r.TenantID, r.Provider))
		if err != nil {
			return nil, fmt.Errorf("tenant %s's %s key: %w", tenantID, r.Provider, err)
		}
		out = append(out, ports.ModelCredential{Provider: r.Provider, APIKey: string(plain), BaseURL: r.BaseURL,
			Models: r.Models, Revision: r.Revision})
	}
	return out, nil
}

// RotateResult counts what Rotate did.
type RotateResult struct {
	// Resealed keys were sealed again under the current key.
	Resealed int
	// Current keys were sealed under it already.
	Current int
	// Changed keys were put or deleted while rotating; they are sealed
	// under the current key by whoever changed them.
	Changed int
}

// Rotate seals every stored key that an old service key sealed again under
// the current one, so old keys can be retired. A key changed meanwhile is
// left to its newer write. INTERNAL_ERROR when a key does not open,
// FORBIDDEN without a service key, STORE_UNAVAILABLE.
func (k *TenantKeys) Rotate(ctx context.Context) (RotateResult, error) {
	var res RotateResult
	if k.sealer == nil {
		return res, domain.Errorf(domain.CodeForbidden, "no FOCAL_SECRET_KEY to seal keys with")
	}
	page := ports.PageRequest{Limit: ports.MaxPageSize}
	for {
		p, err := k.store.ListAllTenantModelKeys(ctx, page)
		if err != nil {
			return res, err
		}
		for _, r := range p.Items {
			if r.Secret.KeyID == k.sealer.KeyID() {
				res.Current++
				continue
			}
			aad := sealContext(r.TenantID, r.Provider)
			plain, err := k.sealer.Open(r.Secret, aad)
			if err != nil {
				return res, fmt.Errorf("tenant %s's %s key: %w", r.TenantID, r.Provider, err)
			}
			if r.Secret, err = k.sealer.Seal(plain, aad); err != nil {
				return res, err
			}
			switch err := k.store.ResealTenantModelKey(ctx, r); {
			case err == nil:
				res.Resealed++
			case domain.IsCode(err, domain.CodeVersionConflict), domain.IsCode(err, domain.CodeNotFound):
				res.Changed++
			default:
				return res, err
			}
		}
		if p.NextCursor == "" {
			return res, nil
		}
		page.Cursor = p.NextCursor
	}
}
