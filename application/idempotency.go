package application

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"focal/domain"
	"focal/ports"
)

// IdempotencyConfig tunes Idempotency-Key handling.
type IdempotencyConfig struct {
	// TTL is how long a key and its answer live.
	TTL time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"24h" yaml:"ttl"`
	// Wait is how long a retry waits for the request running under its
	// key before answering 409 IDEMPOTENCY_IN_PROGRESS.
	Wait time.Duration `env:"IDEMPOTENCY_WAIT" envDefault:"30s" yaml:"wait"`
	// Hold is how long a running request holds its key without renewing
	// it (it renews every third of it): a key whose request died, or lost
	// the store, is taken over by a retry this long after its last renewal.
	Hold time.Duration `env:"IDEMPOTENCY_HOLD" envDefault:"10s" yaml:"hold"`
	// Poll is how often a waiting retry looks at the key again.
	Poll time.Duration `yaml:"-"`
}

// KeyedRequest is a request made under an Idempotency-Key.
type KeyedRequest struct {
	TenantID string
	Key      string
	// Fingerprint identifies the request; a retry must present the same.
	Fingerprint string
}

// Reply is what a run under a key answered.
type Reply struct {
	Status int
	Header map[string]string
	Body   []byte
	// Code is the error code of an error reply, "" otherwise.
	Code domain.ErrorCode
	// TurnID is the completed turn a 2xx reply answered with, or with
	// Unknown the turn whose commit was not confirmed either way.
	TurnID  string
	Unknown bool
	// Left is set when the client went away before the reply ended.
	Left bool
}

// Answer is how Do answered: the run's own reply (Ran), a reply stored by
// an earlier run (Stored), or the completed turn an earlier run committed
// (Turn).
type Answer struct {
	Ran    bool
	Stored *ports.IdempotencyRecord
	Turn   *domain.Turn
}

// Idempotency makes a request safe to retry: of the requests made under
// one key, one runs at a time, and once one has answered the others get
// its answer instead of running.
type Idempotency struct {
	keys  ports.IdempotencyStore
	turns ports.TurnStore
	clock ports.Clock
	cfg   IdempotencyConfig
	// releases retries the settling of a key that could not reach the
	// store.
	releases *Releases
}

// NewIdempotency returns the use case.
func NewIdempotency(cfg IdempotencyConfig, keys ports.IdempotencyStore, turns ports.TurnStore, clock ports.Clock) *Idempotency {
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 10 * time.Second
	}
	return &Idempotency{keys: keys, turns: turns, clock: clock, cfg: cfg}
}

// RetryReleases hands the release or completion of a key that could not
// reach the store to r, which retries it when the store is back; call it
// before serving.
func (u *Idempotency) RetryReleases(r *Releases) { u.releases = r }

// keyedTurn is what a run under a key tells the turn it runs: the id to
// record it under and the keyed request it answers.
type keyedTurn struct{ turnID, request string }

type keyedTurnKey struct{}

func keyedTurnOf(ctx context.Context) (keyedTurn, bool) {
	k, ok := ctx.Value(keyedTurnKey{}).(keyedTurn)
	return k, ok
}

// Do runs run under req's key, or answers as an earlier run under it did.
// The key is claimed first: one insert, and nothing else when the run
// answers with the turn it was told to commit (a retry finds that turn by
// the id in the claim). Other storable replies are stored; a 5xx, a
// transient 4xx or a client that left releases the key for a retry to run
// anew. A turn whose outcome is unknown keeps the key: its hold lapses, and
// a retry then answers with the turn if it was committed, or takes the key
// over and runs (a second completed turn of the request is refused by the
// store, so the message is never recorded twice).
//
// Errors: IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_IN_PROGRESS after the wait,
// the store's errors.
func (u *Idempotency) Do(ctx context.Context, req KeyedRequest, run func(context.Context) Reply) (Answer, error) {
	deadline := u.clock.Now().Add(u.cfg.Wait)
	for {
		rec := u.newClaim(req, uuid.NewString())
		cur, claimed, err := u.keys.ClaimIdempotencyKey(ctx, rec)
		if err != nil {
			return Answer{}, err
		}
		if claimed {
			return u.runClaimed(ctx, rec, run), nil
		}
		a, done, err := u.follow(ctx, req, cur, deadline, run)
		if done || err != nil {
			return a, err
		}
		// Released: claim it again.
	}
}

func (u *Idempotency) newClaim(req KeyedRequest, request string) ports.IdempotencyRecord {
	now := u.clock.Now()
	return ports.IdempotencyRecord{TenantID: req.TenantID, Key: req.Key, Fingerprint: req.Fingerprint,
		Owner: uuid.NewString(), Request: request, TurnID: newTurnID(),
		HeldUntil: now.Add(u.cfg.Hold), ExpiresAt: now.Add(u.cfg.TTL)}
}

// follow answers a request whose key another run holds: with its stored
// reply or committed turn, by taking over a claim whose hold lapsed, or
// after waiting; done is false when the key was released meanwhile.
func (u *Idempotency) follow(ctx context.Context, req KeyedRequest, cur *ports.IdempotencyRecord, deadline time.Time, run func(context.Context) Reply) (Answer, bool, error) {
	for cur != nil {
		if cur.Fingerprint != req.Fingerprint {
			return Answer{}, true, domain.Errorf(domain.CodeIdempotencyKeyReused, "Idempotency-Key %q was used with a different request", req.Key)
		}
		if a, ok, err := u.answered(ctx, cur); ok || err != nil {
			return a, true, err
		}
		if !u.clock.Now().Before(cur.HeldUntil) {
			next := u.newClaim(req, cur.Request)
			took, claimed, err := u.keys.TakeOverIdempotencyKey(ctx, next, cur.Owner)
			if err != nil {
				return Answer{}, true, err
			}
			if claimed {
				return u.runClaimed(ctx, next, run), true, nil
			}
			cur = took
			continue
		}
		if !u.clock.Now().Before(deadline) {
			return Answer{}, true, &domain.Error{Code: domain.CodeIdempotencyInProgress,
				Message: "a request with this Idempotency-Key is still being processed", RetryAfter: time.Second}
		}
		if err := u.pause(ctx); err != nil {
			return Answer{}, true, err
		}
		var err error
		if cur, err = u.keys.GetIdempotencyKey(ctx, req.TenantID, req.Key); err != nil {
			return Answer{}, true, err
		}
	}
	return Answer{}, false, nil
}

// answered is the answer an earlier run left: its stored reply, or the
// completed turn it committed under the claim's turn id.
func (u *Idempotency) answered(ctx context.Context, cur *ports.IdempotencyRecord) (Answer, bool, error) {
	if cur.Done {
		return Answer{Stored: cur}, true, nil
	}
	if cur.TurnID == "" {
		return Answer{}, false, nil
	}
	t, err := u.turns.GetTurn(ctx, cur.TenantID, cur.TurnID)
	switch {
	case domain.IsCode(err, domain.CodeTurnNotFound):
		return Answer{}, false, nil
	case err != nil:
		return Answer{}, false, err
	case t.Status == domain.TurnCompleted:
		return Answer{Turn: t}, true, nil
	}
	return Answer{}, false, nil
}

func (u *Idempotency) pause(ctx context.Context) error {
	t := time.NewTimer(u.cfg.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// runClaimed runs run while renewing the claim's hold, then settles the
// key by the reply.
func (u *Idempotency) runClaimed(ctx context.Context, rec ports.IdempotencyRecord, run func(context.Context) Reply) Answer {
	stop := u.renew(ctx, rec)
	reply := run(context.WithValue(ctx, keyedTurnKey{}, keyedTurn{turnID: rec.TurnID, request: rec.Request}))
	stop()
	u.settle(context.WithoutCancel(ctx), rec, reply)
	return Answer{Ran: true}
}

// renew moves the claim's hold on every third of it until stopped. A
// renewal that fails is tried again at the next tick; one refused (the
// claim was taken over) ends the renewals, as does the request's end.
func (u *Idempotency) renew(ctx context.Context, rec ports.IdempotencyRecord) (stop func()) {
	return keepRenewing(u.clock, u.cfg.Hold/3, func() bool {
		if ctx.Err() != nil {
			return false
		}
		err := u.keys.RenewIdempotencyClaim(ctx, rec.TenantID, rec.Key, rec.Owner, u.clock.Now().Add(u.cfg.Hold))
		return !domain.IsCode(err, domain.CodeNotFound)
	})
}

// settle leaves the key as the reply calls for (see Do).
func (u *Idempotency) settle(ctx context.Context, rec ports.IdempotencyRecord, reply Reply) {
	switch {
	case reply.Unknown:
		// The turn's outcome is unknown: the claim stays, its hold lapses.
	case reply.TurnID == rec.TurnID && reply.Code == "":
		// The committed turn answers; the claim names it. Also when its
		// client left before hearing it: the retry hears it then, instead
		// of recording the message a second time.
	case Storable(reply):
		expires := u.clock.Now().Add(u.cfg.TTL)
		_ = u.releases.Release(ctx, u.cfg.Hold, func(ctx context.Context) error {
			return u.keys.CompleteIdempotencyKey(ctx, rec.TenantID, rec.Key, rec.Owner, reply.Status, reply.Header, reply.Body, expires)
		})
	default:
		// A release that cannot reach the store is retried until the
		// claim would lapse by itself (a retry then takes it over). It
		// names the claim's owner, so a late one frees nothing once a
		// retry has taken the key over.
		_ = u.releases.Release(ctx, u.cfg.Hold, func(ctx context.Context) error {
			return u.keys.ReleaseIdempotencyKey(ctx, rec.TenantID, rec.Key, rec.Owner)
		})
	}
}

// Storable reports whether a reply is kept for retries: 2xx and 4xx are,
// except the transient 4xx (SESSION_BUSY, IDEMPOTENCY_IN_PROGRESS,
// TURN_IN_PROGRESS, rate limits) and a reply its client did not wait for.
func Storable(r Reply) bool {
	switch {
	case r.Left, r.Status >= 500:
		return false
	case r.Code == domain.CodeSessionBusy, r.Code == domain.CodeIdempotencyInProgress, r.Code == domain.CodeTurnInProgress,
		r.Code == domain.CodeRateLimitExceeded, r.Code == domain.CodeBudgetExceeded:
		return false
	}
	return true
}

// answeredTurn is the completed turn that answered a keyed request before
// this run's turn could: the run answers with it instead.
func (uc *ProcessMessage) answeredTurn(ctx context.Context, tenantID string, err error) (*ChatResult, bool) {
	var answered *ports.AnsweredError
	if !errors.As(err, &answered) {
		return nil, false
	}
	t, getErr := uc.turns.GetTurn(context.WithoutCancel(ctx), tenantID, answered.TurnID)
	if getErr != nil {
		return nil, false
	}
	return ResultOf(t), true
}
