package ports

import (
	"context"
	"time"
)

// IdempotencyRecord is what a store keeps per (tenant, Idempotency-Key):
// who is running the first request, and once it finished, its response.
type IdempotencyRecord struct {
	TenantID string
	Key      string
	// Fingerprint identifies the request (method, path, canonical body); a
	// retry must present the same one.
	Fingerprint string
	// Owner is the claim of the request currently running under this key.
	Owner string
	// Done is set once the response is stored.
	Done   bool
	Status int
	Header map[string]string
	Body   []byte
	// ExpiresAt ends the record; an expired record is treated as absent.
	ExpiresAt time.Time
}

// IdempotencyStore keeps idempotency records, shared by every instance.
type IdempotencyStore interface {
	// ClaimIdempotencyKey stores rec (not Done, owned by rec.Owner) unless
	// an unexpired record exists for (rec.TenantID, rec.Key). It returns the
	// record now in force and whether rec was stored. Of concurrent
	// claimers of one key exactly one succeeds.
	ClaimIdempotencyKey(ctx context.Context, rec IdempotencyRecord) (current *IdempotencyRecord, claimed bool, err error)
	// CompleteIdempotencyKey stores the response on the claim of owner.
	// NOT_FOUND when owner no longer holds the claim (it expired).
	CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte) error
	// ReleaseIdempotencyKey deletes the claim of owner so a retry runs
	// anew; a no-op when owner no longer holds it.
	ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error
	// GetIdempotencyKey returns the unexpired record, or nil when there is
	// none.
	GetIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyRecord, error)
}

// RateDecision is the outcome of counting one request.
type RateDecision struct {
	Allowed   bool
	Limit     int
	Remaining int
	// Reset is when the caller has its full allowance again.
	Reset time.Time
	// RetryAfter is how long a refused caller should wait.
	RetryAfter time.Duration
}

// RateLimiter counts requests per key within a window.
type RateLimiter interface {
	// TakeRate counts one request for key against limit requests per
	// window. Of concurrent callers, exactly limit are allowed in a fresh
	// window.
	TakeRate(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
}
