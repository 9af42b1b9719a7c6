package ports

import (
	"context"
	"time"
)

// tenantKey carries the tenant a call is made for (WithTenant).
type tenantKey struct{}

// WithTenant returns ctx carrying tenantID: the tenant the work under ctx
// is done for, so that an adapter (the chat model) can act with that
// tenant's own credentials.
func WithTenant(ctx context.Context, tenantID string) context.Context {
	return &tenantContext{Context: ctx, tenant: tenantID}
}

// tenantContext is context.WithValue(ctx, tenantKey{}, tenant) in one
// allocation, not two: the value it gives under tenantKey is itself, so the
// tenant's string is not boxed apart. Every turn makes one.
type tenantContext struct {
	context.Context
	tenant string
}

// Value is the context itself under tenantKey, else the parent's value.
func (c *tenantContext) Value(k any) any {
	if k == (tenantKey{}) {
		return c
	}
	return c.Context.Value(k)
}

// TenantOf returns the tenant ctx carries, or "".
func TenantOf(ctx context.Context) string {
	if c, ok := ctx.Value(tenantKey{}).(*tenantContext); ok {
		return c.tenant
	}
	return ""
}

// SealedSecret is a secret encrypted at rest: the id of the key that
// sealed it, the nonce and the ciphertext (which authenticates itself and
// the context it was sealed for).
type SealedSecret struct {
	KeyID      string
	Nonce      []byte
	Ciphertext []byte
}

// SecretSealer encrypts secrets at rest. Implementations are safe for
// concurrent use and never log what they seal.
type SecretSealer interface {
	// Seal encrypts plaintext for context (what the secret belongs to,
	// e.g. tenant and provider) under the current key.
	Seal(plaintext, context []byte) (SealedSecret, error)
	// Open decrypts s, which must have been sealed for the same context,
	// under any key the sealer still knows. INTERNAL_ERROR when it cannot
	// (an unknown key id, a wrong context, tampered ciphertext).
	Open(s SealedSecret, context []byte) ([]byte, error)
	// KeyID is the id of the key Seal uses now.
	KeyID() string
}

// TenantModelKey is a tenant's own credentials for one model provider, as
// stored: the key itself only sealed.
type TenantModelKey struct {
	TenantID string
	Provider string
	Secret   SealedSecret
	// Hint is the key's last four characters: all of it ever shown.
	Hint string
	// BaseURL is the provider's server for this key; "" is the provider's
	// own API.
	BaseURL string
	// Models are the models the key may be used with; empty allows any.
	Models []string
	// SetAt is when the key was set; re-sealing keeps it.
	SetAt time.Time
	// Revision increases with every write of the tenant's key of this
	// provider; the store assigns it.
	Revision int64
}

// TenantModelKeyCursor is k's place in the list of every tenant's keys,
// which every store orders by tenant, then provider, byte-wise: the
// cursor of ListAllTenantModelKeys in each store.
func TenantModelKeyCursor(k TenantModelKey) string {
	return tenantModelKeyCursors.encode(k.TenantID, k.Provider)
}

// TenantModelKeyAfter reads a TenantModelKeyCursor back into the tenant
// and provider the next page starts after; both "" for the first page.
// INVALID_REQUEST for a cursor a key listing did not issue.
func TenantModelKeyAfter(cursor string) (tenantID, provider string, err error) {
	key, err := tenantModelKeyCursors.decode(cursor)
	if err != nil || key == nil {
		return "", "", err
	}
	return key[0], key[1], nil
}

// ModelCredential is a tenant's model key in clear, as the chat model
// needs it. It never leaves the process.
type ModelCredential struct {
	Provider string
	APIKey   string
	BaseURL  string
	Models   []string
	Revision int64
}

// TenantModelKeyStore keeps tenants' model keys, one per (tenant,
// provider), shared by every instance. Keys arrive sealed: a store never
// sees one in clear. Reads return copies.
type TenantModelKeyStore interface {
	// PutTenantModelKey stores rec as the tenant's key for rec.Provider,
	// replacing any (rec.Revision is ignored), and returns the revision
	// it was stored at. Of concurrent puts of one provider's key one is in
	// force afterwards, and its revision is the highest.
	PutTenantModelKey(ctx context.Context, rec TenantModelKey) (int64, error)
	// TenantModelKeys returns the tenant's keys, by provider.
	TenantModelKeys(ctx context.Context, tenantID string) ([]TenantModelKey, error)
	// DeleteTenantModelKey removes the tenant's key for provider.
	// NOT_FOUND when there is none.
	DeleteTenantModelKey(ctx context.Context, tenantID, provider string) error
	// ListAllTenantModelKeys pages through every tenant's keys, for
	// re-sealing them under a new key, ordered by tenant id, then by
	// provider, each compared byte-wise: tenant "acme"'s keys come before
	// "acme-eu"'s, though "acme-eu/openai" < "acme/openai" as strings. A
	// key there from the first page to the last is listed once.
	// INVALID_REQUEST for a cursor the listing did not issue.
	ListAllTenantModelKeys(ctx context.Context, page PageRequest) (Page[TenantModelKey], error)
	// ResealTenantModelKey replaces the secret of the key rec names with
	// rec.Secret, keeping everything else, provided the key is still at
	// rec.Revision; it is then at a higher revision. NOT_FOUND when the
	// tenant has no key of that provider now; VERSION_CONFLICT when it has
	// one at another revision (put or re-sealed since it was read), so a
	// rotation never undoes a newer key.
	ResealTenantModelKey(ctx context.Context, rec TenantModelKey) error
}

// TenantBudget is a tenant's monthly token budget.
type TenantBudget struct {
	TenantID      string
	MonthlyTokens int64
	// Month ("2006-01", UTC) and SpentBefore record the tokens the tenant
	// had already used that month when the budget was set; that month the
	// budget's blocks cover only the rest.
	Month       string
	SpentBefore int64
	SetAt       time.Time
}

// BudgetStore keeps budgets and the blocks of them instances claim. A
// budget period's tokens (a month's, see TenantBudget) are cut into blocks
// of a fixed size, numbered from 0; an instance claims a block before it
// lets turns spend from it, so a token is never granted twice, on any
// number of instances.
type BudgetStore interface {
	// SetTenantBudget stores b as the tenant's budget, replacing any.
	SetTenantBudget(ctx context.Context, b TenantBudget) error
	// TenantBudget returns the tenant's budget. NOT_FOUND when it has none.
	TenantBudget(ctx context.Context, tenantID string) (*TenantBudget, error)
	// DeleteTenantBudget removes the tenant's budget. NOT_FOUND when it
	// has none.
	DeleteTenantBudget(ctx context.Context, tenantID string) error
	// ClaimBudgetBlock claims for holder the lowest-numbered block below
	// limit of the tenant's period (an opaque key such as "2026-03@0")
	// that nobody has claimed, and returns its number; ok is false when
	// every block below limit is claimed. Of concurrent claimers, on any
	// number of instances, each block goes to exactly one. Claims are
	// never released.
	ClaimBudgetBlock(ctx context.Context, tenantID, period string, limit int, holder string) (block int, ok bool, err error)
}

// UsageRecord is one holder's (one instance's) running token totals for a
// tenant's month.
type UsageRecord struct {
	TenantID   string
	Month      string
	Holder     string
	Prompt     int64
	Completion int64
	Turns      int64
	UpdatedAt  time.Time
}

// UsageTotals are a tenant's token totals for a month.
type UsageTotals struct {
	Prompt     int64
	Completion int64
	Turns      int64
}

// UsageMeter keeps token usage per tenant and month, shared by every
// instance.
type UsageMeter interface {
	// RecordUsage stores rec as its holder's totals for the tenant's
	// month, replacing the holder's earlier ones. Each holder writes only
	// its own record, one write at a time, with totals that never
	// decrease; stores rely on that (no two writers ever race on one
	// record).
	RecordUsage(ctx context.Context, rec UsageRecord) error
	// MonthUsage sums every holder's totals for the tenant's month; zero
	// when there are none.
	MonthUsage(ctx context.Context, tenantID, month string) (UsageTotals, error)
}

// TenantLister lists the tenants a store holds lasting data for, across
// every tenant: what a tool that moves a whole store (focal store copy
// --all-tenants) needs, since every other read is scoped by tenant.
type TenantLister interface {
	// ListTenants pages through the ids of the tenants that have an agent
	// (deleted ones do not count), a session, a model key or a budget,
	// each once, ascending byte-wise; the cursor is the last id listed
	// (TenantCursors). A tenant with only usage, claimed budget blocks,
	// idempotency records or rate windows is not listed. INVALID_REQUEST
	// for a bad cursor.
	ListTenants(ctx context.Context, page PageRequest) (Page[string], error)
}
