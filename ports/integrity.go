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
	// A claim expires soon after its request must have ended (so a claim
	// whose owner died does not hold its key for long); completing it
	// extends it to the full retention.
	ExpiresAt time.Time
}

// IdempotencyStore keeps idempotency records, shared by every instance.
// Records are scoped by (TenantID, Key): another tenant's record of the same
// key is another record. A record past its ExpiresAt is absent to every
// method, whether or not the backend has removed it yet. Stores keep their
// own copies of headers and bodies and return copies.
type IdempotencyStore interface {
	// ClaimIdempotencyKey stores rec (not Done, no response, owned by
	// rec.Owner) unless an unexpired record exists for (rec.TenantID,
	// rec.Key). It returns the record now in force and whether rec was
	// stored. Of concurrent claimers of one key exactly one succeeds, also
	// when they replace an expired record; all of them get the winner's
	// record.
	ClaimIdempotencyKey(ctx context.Context, rec IdempotencyRecord) (current *IdempotencyRecord, claimed bool, err error)
	// CompleteIdempotencyKey stores the response on the claim of owner,
	// marks it Done and makes it expire at expiresAt. NOT_FOUND, changing
	// nothing, when owner does not hold an unfinished, unexpired claim of
	// the key: another owner's, an expired, released or already completed
	// one. A completion whose answer was lost is settled by reading the key
	// back: it succeeds exactly when the response is stored.
	CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error
	// ReleaseIdempotencyKey deletes the unfinished claim of owner so a
	// retry runs anew; a no-op when owner no longer holds it or it is Done
	// (a stored response stays until it expires).
	ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error
	// GetIdempotencyKey returns the unexpired record, or nil when there is
	// none.
	GetIdempotencyKey(ctx context.Context, tenantID, key string) (*IdempotencyRecord, error)
}

// RateDecision is the outcome of counting one request.
type RateDecision struct {
	Allowed bool
	Limit   int
	// Remaining is how many more requests the caller may make now (0 when
	// refused).
	Remaining int
	// Reset is when the caller has its full allowance again; in the future.
	Reset time.Time
	// RetryAfter is how long a refused caller should wait (> 0 when
	// refused, 0 when allowed).
	RetryAfter time.Duration
}

// RateLimiter counts requests per key within a window.
type RateLimiter interface {
	// TakeRate counts one request for key against limit requests per
	// window. Of concurrent callers, exactly limit are allowed in a fresh
	// window; one after another, they see Remaining limit-1, limit-2, ...,
	// 0, and then refusals. Keys are independent. An implementation may count
	// in fixed windows aligned to the Unix epoch or refill continuously;
	// either way the whole allowance is back one window after it was used
	// up.
	TakeRate(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
}
