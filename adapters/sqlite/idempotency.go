package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// Idempotency records: one row per (tenant, key). Claim reads the key and
// writes the claim where it has no live record, in one write transaction;
// complete and release are one statement each, filtered by the owner's
// unfinished, unexpired claim. Each operation is one function with its SQL
// beside it.

// IdempotencyKeys implements ports.IdempotencyStore on SQLite.
type IdempotencyKeys struct{ db *DB }

var _ ports.IdempotencyStore = (*IdempotencyKeys)(nil)

// NewIdempotencyKeys returns the idempotency store of db.
func NewIdempotencyKeys(db *DB) *IdempotencyKeys { return &IdempotencyKeys{db: db} }

const (
	sqlGetKey = `SELECT ` + sqlkit.IdempotencyColumns + ` FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND expires_ns > ?`
	// Replaces an expired record, if any.
	sqlClaimKey = `INSERT OR REPLACE INTO idempotency_keys (tenant_id, key, fingerprint, owner, request, turn_id, held_ns, expires_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// ?1 tenant, ?2 key, ?3 owner, ?4 now, ?5 held_ns.
	sqlRenewKey = `UPDATE idempotency_keys SET held_ns = ?5, expires_ns = max(expires_ns, ?5)
WHERE tenant_id = ?1 AND key = ?2 AND owner = ?3 AND NOT done AND expires_ns > ?4`
	// ?1 tenant, ?2 key, ?3 from, ?4 now, ?5 owner, ?6 turn, ?7 held_ns, ?8 expires_ns.
	sqlTakeOverKey = `UPDATE idempotency_keys SET owner = ?5, turn_id = ?6, held_ns = ?7, expires_ns = ?8
WHERE tenant_id = ?1 AND key = ?2 AND owner = ?3 AND NOT done AND expires_ns > ?4 AND held_ns <= ?4`
	sqlCompleteKey = `UPDATE idempotency_keys SET done = 1, status = ?, header = ?, body = ?, expires_ns = ?
WHERE tenant_id = ? AND key = ? AND owner = ? AND NOT done AND expires_ns > ?`
	sqlReleaseKey = `DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND owner = ? AND NOT done AND expires_ns > ?`
)

// ClaimIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) ClaimIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord) (*ports.IdempotencyRecord, bool, error) {
	if err := sqlkit.CheckClaim(rec); err != nil {
		return nil, false, err
	}
	var cur *ports.IdempotencyRecord
	claimed := false
	err := k.db.write(ctx, "claim idempotency key", func(tx *sql.Tx) error {
		var err error
		cur, err = sqlkit.ScanIdempotency(tx.QueryRowContext(ctx, sqlGetKey, rec.TenantID, rec.Key, k.db.clock.Now().UnixNano()))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlClaimKey, rec.TenantID, rec.Key, rec.Fingerprint, rec.Owner, rec.Request, rec.TurnID,
			rec.HeldUntil.UnixNano(), rec.ExpiresAt.UnixNano()); err != nil {
			return err
		}
		claimed = true
		cur = &ports.IdempotencyRecord{TenantID: rec.TenantID, Key: rec.Key, Fingerprint: rec.Fingerprint, Owner: rec.Owner,
			Request: rec.Request, TurnID: rec.TurnID, HeldUntil: time.Unix(0, rec.HeldUntil.UnixNano()),
			ExpiresAt: time.Unix(0, rec.ExpiresAt.UnixNano())}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return cur, claimed, nil
}

// RenewIdempotencyClaim implements ports.IdempotencyStore: one update of
// the owner's unfinished, unexpired claim.
func (k *IdempotencyKeys) RenewIdempotencyClaim(ctx context.Context, tenantID, key, owner string, heldUntil time.Time) error {
	return k.db.write(ctx, "renew idempotency claim", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlRenewKey, tenantID, key, owner, k.db.clock.Now().UnixNano(), heldUntil.UnixNano())
		return affectedOne(res, err, key)
	})
}

// TakeOverIdempotencyKey implements ports.IdempotencyStore: one write
// transaction updates the claim of from where its hold has passed, and
// reads the record in force.
func (k *IdempotencyKeys) TakeOverIdempotencyKey(ctx context.Context, rec ports.IdempotencyRecord, from string) (*ports.IdempotencyRecord, bool, error) {
	if err := sqlkit.CheckTakeOver(rec, from); err != nil {
		return nil, false, err
	}
	var cur *ports.IdempotencyRecord
	var took bool
	err := k.db.write(ctx, "take over idempotency key", func(tx *sql.Tx) error {
		now := k.db.clock.Now().UnixNano()
		res, err := tx.ExecContext(ctx, sqlTakeOverKey, rec.TenantID, rec.Key, from, now, rec.Owner, rec.TurnID,
			rec.HeldUntil.UnixNano(), rec.ExpiresAt.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		took = n == 1
		cur, err = sqlkit.ScanIdempotency(tx.QueryRowContext(ctx, sqlGetKey, rec.TenantID, rec.Key, now))
		if errors.Is(err, sql.ErrNoRows) {
			cur, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return cur, took, nil
}

// affectedOne is NOT_FOUND when the statement changed no row.
func affectedOne(res sql.Result, err error, key string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = sqlkit.NotHeld(key)
	}
	return err
}

// CompleteIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) CompleteIdempotencyKey(ctx context.Context, tenantID, key, owner string, status int,
	header map[string]string, body []byte, expiresAt time.Time) error {
	headerCol, body, err := sqlkit.Completion(header, body)
	if err != nil {
		return err
	}
	return k.db.write(ctx, "complete idempotency key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlCompleteKey, status, headerCol, body, expiresAt.UnixNano(), tenantID, key, owner,
			k.db.clock.Now().UnixNano())
		return affectedOne(res, err, key)
	})
}

// ReleaseIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) ReleaseIdempotencyKey(ctx context.Context, tenantID, key, owner string) error {
	return k.db.write(ctx, "release idempotency key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlReleaseKey, tenantID, key, owner, k.db.clock.Now().UnixNano())
		return err
	})
}

// GetIdempotencyKey implements ports.IdempotencyStore.
func (k *IdempotencyKeys) GetIdempotencyKey(ctx context.Context, tenantID, key string) (*ports.IdempotencyRecord, error) {
	ctx, cancel := k.db.op(ctx)
	defer cancel()
	cur, err := sqlkit.ScanIdempotency(k.db.readers.QueryRowContext(ctx, sqlGetKey, tenantID, key, k.db.clock.Now().UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fail(err, "read idempotency key")
	}
	return cur, nil
}
