package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Idempotency records: one row per (tenant, key).
//
// Claim is one upsert that writes the claim where the key has no record
// or only an expired one (the ON CONFLICT update admits only an expired
// row, and the row lock serializes concurrent claimers: exactly one
// writes); when it writes nothing, the record in force is read. Complete
// and release are one statement each, filtered by the owner's unfinished,
// unexpired claim. Expiry is judged by this instance's clock, the one the
// caller's ExpiresAt comes from.
//
// Each operation is one function with its SQL beside it, so a change of
// the port (leases with owners, renewals, conditional releases) is a
// change of one statement.

// IdempotencyKeys implements ports.IdempotencyStore on PostgreSQL.
type IdempotencyKeys struct{ db *DB }

var _ ports.IdempotencyStore = (*IdempotencyKeys)(nil)

// NewIdempotencyKeys returns the idempotency store of db.
func NewIdempotencyKeys(db *DB) *IdempotencyKeys { return &IdempotencyKeys{db: db} }

const (
	// $1 tenant, $2 key, $3 fingerprint, $4 owner, $5 expires_ns, $6 now,
	// $7 request, $8 turn, $9 held_ns.
	sqlClaimKey = `-- claim idempotency key
INSERT INTO idempotency_keys AS k (tenant_id, key, fingerprint, owner, expires_ns, request, turn_id, held_ns)
VALUES ($1, $2, $3, $4, $5, $7, $8, $9)
ON CONFLICT (tenant_id, key) DO UPDATE
	SET fingerprint = EXCLUDED.fingerprint, owner = EXCLUDED.owner, done = false, status = 0, header = NULL, body = NULL,
		expires_ns = EXCLUDED.expires_ns, request = EXCLUDED.request, turn_id = EXCLUDED.turn_id, held_ns = EXCLUDED.held_ns
	WHERE k.expires_ns <= $6
RETURNING ` + sqlkit.IdempotencyColumns
	// $1 tenant, $2 key, $3 owner, $4 now, $5 held_ns.
	sqlRenewKey = `-- renew idempotency claim
UPDATE idempotency_keys SET held_ns = $5, expires_ns = GREATEST(expires_ns, $5)
WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND NOT done AND expires_ns > $4`
	// $1 tenant, $2 key, $3 from, $4 now, $5 owner, $6 turn, $7 held_ns, $8 expires_ns.
	sqlTakeOverKey = `-- take over idempotency key
UPDATE idempotency_keys SET owner = $5, turn_id = $6, held_ns = $7, expires_ns = $8
WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND NOT done AND expires_ns > $4 AND held_ns <= $4
RETURNING ` + sqlkit.IdempotencyColumns
	sqlGetKey = `-- get idempotency key
SELECT ` + sqlkit.IdempotencyColumns + ` FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND expires_ns > $3`
	// $1 tenant, $2 key, $3 owner, $4 now, $5 status, $6 header, $7 body, $8 expires_ns.
	sqlCompleteKey = `-- complete idempotency key
UPDATE idempotency_keys SET done = true, status = $5, header = $6, body = $7, expires_ns = $8
WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND NOT done AND expires_ns > $4`
	// The completion sent again after a lost connection: it also admits
	// the record its lost send completed (done with this very response),
	// which it leaves as it is.
	sqlCompleteKeyAgain = `-- complete idempotency key again
UPDATE idempotency_keys SET done = true, status = $5, header = $6, body = $7, expires_ns = $8
WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND expires_ns > $4
	AND (NOT done OR (status = $5 AND header IS NOT DISTINCT FROM $6 AND body = $7 AND expires_ns = $8))`
	sqlReleaseKey = `-- release idempotency key
DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND owner = $3 AND NOT done AND expires_ns > $4`
)

// claimRounds bounds the rounds of a claimer whose key keeps changing
// (released or expired between its write and its read).
const claimRounds = 20

// ClaimIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	if err := sqlkit.CheckClaim(rec); err != nil {
		return nil, false, err
	}
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	for range claimRounds {
		now := k.db.clock.Now().UnixNano()
		var cur *ports.IdempotencyRecord
		// Sent again after a lost answer, a claim that landed finds the
		// live record and changes nothing; the read below finds it ours.
		err := retryIdempotent(ctx, func() (err error) {
			cur, err = sqlkit.ScanIdempotency(k.db.pool.QueryRow(ctx, sqlClaimKey, rec.TenantID, rec.Key, rec.Fingerprint, rec.Owner,
				rec.ExpiresAt.UnixNano(), now, rec.Request, rec.TurnID, rec.HeldUntil.UnixNano()))
			return err
		})
		if err == nil {
			return cur, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) && !transient(err) {
			return nil, false, fail(err, "claim idempotency key")
		}
		// The key has a live record, or the claim's answer was lost: the
		// stored record says which. A claim of this owner that landed is
		// this caller's.
		lost := err
		cur, err = k.get(ctx, rec.TenantID, rec.Key, now)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && lost != nil && !errors.Is(lost, pgx.ErrNoRows):
			return nil, false, fail(lost, "claim idempotency key")
		case errors.Is(err, pgx.ErrNoRows):
			continue // released or expired meanwhile: claim again
		case err != nil:
			return nil, false, fail(err, "read idempotency key")
		}
		return cur, cur.Owner == rec.Owner && !cur.Done, nil
	}
	return nil, false, &domain.Error{Code: domain.CodeIdempotencyInProgress, RetryAfter: time.Second,
		Message: "the record of this Idempotency-Key keeps changing; retry"}
}

// RenewIdempotencyClaim implements ports.IdempotencyStore: one update of
// the owner's unfinished, unexpired claim. Sent again after a lost answer,
// it moves the hold to the same place.
func (k *IdempotencyKeys) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	var affected int64
	err := retryIdempotent(ctx, func() error {
		tag, err := k.db.pool.Exec(ctx, sqlRenewKey, tenantID, key, owner, k.db.clock.Now().UnixNano(), heldUntil.UnixNano())
		affected = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fail(err, "renew idempotency claim")
	}
	if affected == 0 {
		return sqlkit.NotHeld(key)
	}
	return nil
}

// TakeOverIdempotencyKey implements ports.IdempotencyStore: one update,
// which the row lock serializes among takers; when it changes nothing, or
// its answer was lost, the record in force says who holds the key.
func (k *IdempotencyKeys) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (*ports.IdempotencyRecord, bool, error) {
	if err := sqlkit.CheckTakeOver(rec, from); err != nil {
		return nil, false, err
	}
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	now := k.db.clock.Now().UnixNano()
	var cur *ports.IdempotencyRecord
	// Sent again after a lost answer, a takeover that landed no longer
	// finds the key held by from and changes nothing.
	err := retryIdempotent(ctx, func() (err error) {
		cur, err = sqlkit.ScanIdempotency(k.db.pool.QueryRow(ctx, sqlTakeOverKey, rec.TenantID, rec.Key, from, now, rec.Owner, rec.TurnID,
			rec.HeldUntil.UnixNano(), rec.ExpiresAt.UnixNano()))
		return err
	})
	if err == nil {
		return cur, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) && !transient(err) {
		return nil, false, fail(err, "take over idempotency key")
	}
	// Taken by another, released, expired, or this takeover's answer was
	// lost: the record in force says which.
	cur, err = k.get(context.WithoutCancel(ctx), rec.TenantID, rec.Key, now)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fail(err, "read idempotency key")
	}
	return cur, cur.Owner == rec.Owner, nil
}

// CompleteIdempotencyKey implements ports.IdempotencyStore: one update.
// After a lost connection it is sent again admitting the record completed
// with this response too, so it succeeds whether the lost send landed or
// not (a client cannot tell which: a statement dropped before the server
// read it looks the same); only the first send refuses a completed record.
// Answers lost every time are settled by reading the key back.
func (k *IdempotencyKeys) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int,
	header map[string]string, body []byte, expiresAt time.Time) error {
	headerCol, body, err := sqlkit.Completion(header, body)
	if err != nil {
		return err
	}
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	now := k.db.clock.Now().UnixNano()
	var affected int64
	sql := sqlCompleteKey
	err = retryIdempotent(ctx, func() error {
		tag, err := k.db.pool.Exec(ctx, sql, tenantID, key, owner, now, status, headerCol, body, expiresAt.UnixNano())
		affected = tag.RowsAffected()
		sql = sqlCompleteKeyAgain
		return err
	})
	if err != nil && transient(err) {
		cur, readErr := k.get(context.WithoutCancel(ctx), tenantID, key, now)
		if readErr == nil && cur.Owner == owner && cur.Done && cur.ExpiresAt.UnixNano() == expiresAt.UnixNano() {
			return nil
		}
	}
	if err != nil {
		return fail(err, "complete idempotency key")
	}
	if affected == 0 {
		return sqlkit.NotHeld(key)
	}
	return nil
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore: one delete of
// the owner's unfinished claim (sent again, it deletes nothing more).
func (k *IdempotencyKeys) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	err := retryIdempotent(ctx, func() error {
		_, err := k.db.pool.Exec(ctx, sqlReleaseKey, tenantID, key, owner, k.db.clock.Now().UnixNano())
		return err
	})
	return fail(err, "release idempotency key")
}

// GetIdempotencyKey implements ports.IdempotencyStore: one read.
func (k *IdempotencyKeys) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*ports.IdempotencyRecord, error) {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	cur, err := k.get(ctx, tenantID, key, k.db.clock.Now().UnixNano())
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "read idempotency key")
	}
	return cur, nil
}

// get reads the key's live record (pgx.ErrNoRows when none).
func (k *IdempotencyKeys) get(ctx context.Context, tenantID, key string, now int64) (*ports.IdempotencyRecord, error) {
	var cur *ports.IdempotencyRecord
	err := retryIdempotent(ctx, func() (err error) {
		cur, err = sqlkit.ScanIdempotency(k.db.pool.QueryRow(ctx, sqlGetKey, tenantID, key, now))
		return err
	})
	return cur, err
}
