package ports

import (
	"context"
	"time"
)

// IdempotencyRecord is what a store keeps per (tenant, Idempotency-Key):
// who is running the request made under the key, the turn it will commit,
// and once it finished (when its answer is not that turn), its response.
type IdempotencyRecord struct {
	TenantID string
	Key      string
	// Fingerprint identifies the request (method, path, canonical body); a
	// retry must present the same one.
	Fingerprint string
	// Owner is the claim now holding the key, unique per claim: a takeover
	// puts a new owner in place, and the old one can then neither renew,
	// complete nor release the key.
	Owner string
	// Request names the keyed request for the record's whole life: chosen
	// by the claim that found the key free, kept by takeovers. A turn
	// committed for the request carries it (domain.Turn.KeyedRequest), and
	// a turn store commits at most one completed turn per request.
	Request string
	// TurnID is the turn the owner's request commits, if it commits one: a
	// completed turn with this id answers the request, Done or not, so a
	// request answered by its turn needs no completion write.
	TurnID string
	// Done is set once the response is stored.
	Done   bool
	Status int
	Header map[string]string
	Body   []byte
	// HeldUntil is how long the owner holds an unfinished claim: it renews
	// the hold while its request runs (RenewIdempotencyClaim). Past it the
	// owner is presumed gone (a crashed instance, a lost network) and
	// TakeOverIdempotencyKey may put another owner in its place.
	HeldUntil time.Time
	// ExpiresAt ends the record: past it the record is absent to every
	// method, and the key is free for a new request.
	ExpiresAt time.Time
}

// IdempotencyStore keeps idempotency records, shared by every instance.
// Records are scoped by (TenantID, Key): another tenant's record of the same
// key is another record. A record past its ExpiresAt is absent to every
// method, whether or not the backend has removed it yet. Stores keep their
// own copies of headers and bodies and return copies. HeldUntil is judged
// by the store's clock where the backend has one, else by the caller's
// instance: instances' clocks should agree within a second or two (a hold
// judged early only costs a repeated run; see TurnStore.CommitTurn).
type IdempotencyStore interface {
	// ClaimIdempotencyKey stores rec (not Done, no response, owned by
	// rec.Owner, with rec's Request, TurnID, HeldUntil and ExpiresAt)
	// unless an unexpired record exists for (rec.TenantID, rec.Key). It
	// returns the record now in force and whether rec was stored. Of
	// concurrent claimers of one key exactly one succeeds, also when they
	// replace an expired record; all of them get the winner's record.
	ClaimIdempotencyKey(ctx context.Context, rec IdempotencyRecord) (current *IdempotencyRecord, claimed bool, err error)
	// RenewIdempotencyClaim moves the HeldUntil of owner's unfinished claim
	// to heldUntil, and its ExpiresAt to heldUntil when that is later (a
	// record never expires while held). NOT_FOUND, changing nothing, when
	// owner does not hold an unfinished, unexpired claim of the key: it was
	// taken over, released, completed, or it expired.
	RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error
	// TakeOverIdempotencyKey puts rec's Owner, TurnID, HeldUntil and
	// ExpiresAt in place of the unfinished claim of owner from, if that
	// claim's HeldUntil has passed; Fingerprint and Request stay the
	// record's. It returns the record now in force and whether rec took
	// over; when not, the record is unchanged (nil when there is none: it
	// was released or expired). Of concurrent takers of one claim exactly
	// one succeeds. A takeover whose answer was lost is read back.
	TakeOverIdempotencyKey(ctx context.Context, rec IdempotencyRecord, from string) (current *IdempotencyRecord, claimed bool, err error)
	// CompleteIdempotencyKey stores the response on the claim of owner,
	// marks it Done and makes it expire at expiresAt. NOT_FOUND, changing
	// nothing, when owner does not hold an unfinished, unexpired claim of
	// the key: another owner's, an expired, released or already completed
	// one. A completion whose answer was lost is settled by reading the key
	// back: it succeeds exactly when the response is stored.
	CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int, header map[string]string, body []byte, expiresAt time.Time) error
	// ReleaseIdempotencyKey deletes the unfinished claim of owner so a
	// retry runs anew; a no-op when owner no longer holds it (a late
	// release never frees another owner's claim) or it is Done (a stored
	// response stays until it expires).
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
	// At is when the limiter decided, by the clock Reset is on; zero
	// when the limiter does not say (the caller then reads its clock).
	At time.Time
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
