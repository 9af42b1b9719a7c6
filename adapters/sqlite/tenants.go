package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// Tenants' model keys, budgets, budget blocks and usage: one row each.
// Every write is one write transaction, and SQLite runs one at a time, so
// a read and the write that depends on it (the next revision, the next
// free block) cannot interleave with another writer's.

// Tenants implements ports.TenantModelKeyStore, ports.BudgetStore and
// ports.UsageMeter on SQLite.
type Tenants struct{ db *DB }

var (
	_ ports.TenantModelKeyStore = (*Tenants)(nil)
	_ ports.BudgetStore         = (*Tenants)(nil)
	_ ports.UsageMeter          = (*Tenants)(nil)
)

// NewTenants returns the tenant stores of db.
func NewTenants(db *DB) *Tenants { return &Tenants{db: db} }

const (
	sqlNextRevision = `UPDATE tenant_key_revisions SET last = last + 1 RETURNING last`
	sqlPutKey       = `INSERT OR REPLACE INTO tenant_model_keys (` + sqlkit.KeyColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlTenantKeys   = `SELECT ` + sqlkit.KeyColumns + ` FROM tenant_model_keys WHERE tenant_id = ? ORDER BY provider`
	sqlDeleteKey    = `DELETE FROM tenant_model_keys WHERE tenant_id = ? AND provider = ?`
	// Every tenant's keys by tenant, then provider: a range of the primary
	// key's index.
	sqlAllKeys = `SELECT ` + sqlkit.KeyColumns + ` FROM tenant_model_keys WHERE (tenant_id, provider) > (?, ?)
ORDER BY tenant_id, provider LIMIT ?`
	sqlKeyRevision = `SELECT revision FROM tenant_model_keys WHERE tenant_id = ? AND provider = ?`
	sqlResealKey   = `UPDATE tenant_model_keys SET key_id = ?, nonce = ?, ciphertext = ?, revision = ? WHERE tenant_id = ? AND provider = ?`

	sqlSetBudget = `INSERT OR REPLACE INTO tenant_budgets (tenant_id, monthly_tokens, month, spent_before, set_ns) VALUES (?, ?, ?, ?, ?)`
	sqlGetBudget = `SELECT tenant_id, monthly_tokens, month, spent_before, set_ns FROM tenant_budgets WHERE tenant_id = ?`
	sqlDelBudget = `DELETE FROM tenant_budgets WHERE tenant_id = ?`
	// Blocks are claimed lowest first and never released: the claimed
	// ones are 0 up to their count.
	sqlCountBlocks = `SELECT count(*) FROM budget_blocks WHERE tenant_id = ? AND period = ?`
	sqlClaimBlock  = `INSERT INTO budget_blocks (tenant_id, period, block, holder) VALUES (?, ?, ?, ?)`

	sqlRecordUsage = `INSERT OR REPLACE INTO tenant_usage (tenant_id, month, holder, prompt, completion, turns, updated_ns)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlMonthUsage = `SELECT coalesce(sum(prompt), 0), coalesce(sum(completion), 0), coalesce(sum(turns), 0)
FROM tenant_usage WHERE tenant_id = ? AND month = ?`
)

// PutTenantModelKey implements ports.TenantModelKeyStore.
func (s *Tenants) PutTenantModelKey(ctx context.Context, rec ports.TenantModelKey) (int64, error) {
	models, err := sqlkit.EncodeModels(rec.Models)
	if err != nil {
		return 0, err
	}
	var revision int64
	err = s.db.write(ctx, "put tenant model key", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, sqlNextRevision).Scan(&revision); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlPutKey, rec.TenantID, rec.Provider, rec.Secret.KeyID, sqlkit.NotNull(rec.Secret.Nonce),
			sqlkit.NotNull(rec.Secret.Ciphertext), rec.Hint, rec.BaseURL, models, rec.SetAt.UnixNano(), revision)
		return err
	})
	return revision, err
}

// TenantModelKeys implements ports.TenantModelKeyStore.
func (s *Tenants) TenantModelKeys(ctx context.Context, tenantID string) ([]ports.TenantModelKey, error) {
	return s.readKeys(ctx, sqlTenantKeys, tenantID)
}

func (s *Tenants) readKeys(ctx context.Context, query string, args ...any) ([]ports.TenantModelKey, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	rows, err := s.db.readers.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fail(err, "read tenant model keys")
	}
	defer rows.Close()
	keys, err := sqlkit.Collect(rows, sqlkit.ScanKey)
	return keys, fail(err, "read tenant model keys")
}

// DeleteTenantModelKey implements ports.TenantModelKeyStore.
func (s *Tenants) DeleteTenantModelKey(ctx context.Context, tenantID, provider string) error {
	return s.db.write(ctx, "delete tenant model key", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlDeleteKey, tenantID, provider)
		return deletedOne(res, err, sqlkit.NoKey(provider))
	})
}

// deletedOne is missing when the statement changed no row.
func deletedOne(res sql.Result, err error, missing error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return missing
	}
	return err
}

// ListAllTenantModelKeys implements ports.TenantModelKeyStore.
func (s *Tenants) ListAllTenantModelKeys(ctx context.Context, page ports.PageRequest) (ports.Page[ports.TenantModelKey], error) {
	tenantID, provider, err := ports.TenantModelKeyAfter(page.Cursor)
	if err != nil {
		return ports.Page[ports.TenantModelKey]{}, err
	}
	limit := ports.PageLimit(page.Limit)
	keys, err := s.readKeys(ctx, sqlAllKeys, tenantID, provider, limit+1)
	if err != nil {
		return ports.Page[ports.TenantModelKey]{}, err
	}
	return sqlkit.PageOf(keys, limit, ports.TenantModelKeyCursor), nil
}

// ResealTenantModelKey implements ports.TenantModelKeyStore.
func (s *Tenants) ResealTenantModelKey(ctx context.Context, rec ports.TenantModelKey) error {
	return s.db.write(ctx, "reseal tenant model key", func(tx *sql.Tx) error {
		var cur, next int64
		err := tx.QueryRowContext(ctx, sqlKeyRevision, rec.TenantID, rec.Provider).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return sqlkit.NoKey(rec.Provider)
		case err != nil:
			return err
		case cur != rec.Revision:
			return sqlkit.KeyChanged(rec.Provider)
		}
		if err := tx.QueryRowContext(ctx, sqlNextRevision).Scan(&next); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlResealKey, rec.Secret.KeyID, sqlkit.NotNull(rec.Secret.Nonce), sqlkit.NotNull(rec.Secret.Ciphertext), next,
			rec.TenantID, rec.Provider)
		return err
	})
}

// SetTenantBudget implements ports.BudgetStore.
func (s *Tenants) SetTenantBudget(ctx context.Context, b ports.TenantBudget) error {
	return s.db.write(ctx, "set tenant budget", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlSetBudget, b.TenantID, b.MonthlyTokens, b.Month, b.SpentBefore, b.SetAt.UnixNano())
		return err
	})
}

// TenantBudget implements ports.BudgetStore.
func (s *Tenants) TenantBudget(ctx context.Context, tenantID string) (*ports.TenantBudget, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	b, err := sqlkit.ScanBudget(s.db.readers.QueryRowContext(ctx, sqlGetBudget, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sqlkit.NoBudget()
	}
	if err != nil {
		return nil, fail(err, "read tenant budget")
	}
	return b, nil
}

// DeleteTenantBudget implements ports.BudgetStore.
func (s *Tenants) DeleteTenantBudget(ctx context.Context, tenantID string) error {
	return s.db.write(ctx, "delete tenant budget", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlDelBudget, tenantID)
		return deletedOne(res, err, sqlkit.NoBudget())
	})
}

// ClaimBudgetBlock implements ports.BudgetStore: the count of claimed
// blocks is the next one, read and claimed in one write transaction.
func (s *Tenants) ClaimBudgetBlock(ctx context.Context, tenantID, period string, limit int, holder string) (int, bool, error) {
	var block int
	ok := false
	err := s.db.write(ctx, "claim budget block", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, sqlCountBlocks, tenantID, period).Scan(&block); err != nil {
			return err
		}
		if block >= limit {
			return nil
		}
		_, err := tx.ExecContext(ctx, sqlClaimBlock, tenantID, period, block, holder)
		ok = err == nil
		return err
	})
	if err != nil || !ok {
		return 0, false, err
	}
	return block, true, nil
}

// RecordUsage implements ports.UsageMeter.
func (s *Tenants) RecordUsage(ctx context.Context, rec ports.UsageRecord) error {
	return s.db.write(ctx, "record usage", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlRecordUsage, rec.TenantID, rec.Month, rec.Holder, rec.Prompt, rec.Completion, rec.Turns,
			rec.UpdatedAt.UnixNano())
		return err
	})
}

// MonthUsage implements ports.UsageMeter.
func (s *Tenants) MonthUsage(ctx context.Context, tenantID, month string) (ports.UsageTotals, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	var u ports.UsageTotals
	err := s.db.readers.QueryRowContext(ctx, sqlMonthUsage, tenantID, month).Scan(&u.Prompt, &u.Completion, &u.Turns)
	return u, fail(err, "read usage")
}
