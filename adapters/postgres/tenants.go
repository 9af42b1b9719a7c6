package postgres

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"focal/adapters/sqlkit"
	"focal/ports"
)

// Tenants' model keys, budgets, budget blocks and usage: one row each.
// The puts and re-seals of one tenant's key take a transaction-scoped
// advisory lock of the key first, so revisions, drawn from a sequence
// under the lock, grow in the order the writes commit (the last put in
// force has the highest); that revision also tells a write sent again
// after its commit was lost whether that commit landed. A budget block is
// claimed by one insert of the next number (claims are never released, so
// the claimed blocks are 0 up to their count); the primary key gives each
// number to one claimer, and a claimer that lost a number tries the next.
// A claim carries a nonce of its own (budget_blocks.claim), so sending it
// again after a lost answer is safe.

// Tenants implements ports.TenantModelKeyStore, ports.BudgetStore and
// ports.UsageMeter on PostgreSQL.
type Tenants struct{ db *DB }

var (
	_ ports.TenantModelKeyStore = (*Tenants)(nil)
	_ ports.BudgetStore         = (*Tenants)(nil)
	_ ports.UsageMeter          = (*Tenants)(nil)
)

// NewTenants returns the tenant stores of db.
func NewTenants(db *DB) *Tenants { return &Tenants{db: db} }

const (
	sqlLockKey = `-- lock tenant key
SELECT pg_advisory_xact_lock(hashtextextended('tenant_model_keys/' || $1 || '/' || $2, 0))`
	sqlPutKey = `-- put tenant key
INSERT INTO tenant_model_keys (` + sqlkit.KeyColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('tenant_key_revisions'))
ON CONFLICT (tenant_id, provider) DO UPDATE SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext,
	hint = EXCLUDED.hint, base_url = EXCLUDED.base_url, models = EXCLUDED.models, set_ns = EXCLUDED.set_ns, revision = EXCLUDED.revision
RETURNING revision`
	sqlTenantKeys = `-- tenant keys
SELECT ` + sqlkit.KeyColumns + ` FROM tenant_model_keys WHERE tenant_id = $1 ORDER BY provider COLLATE "C"`
	sqlDeleteKey = `-- delete tenant key
DELETE FROM tenant_model_keys WHERE tenant_id = $1 AND provider = $2`
	// Every tenant's keys by tenant, then provider, byte-wise (COLLATE "C")
	// on a database of any default collation, as their cursors compare; the
	// primary key is in that collation (migration 006), so it gives the
	// order and the range.
	sqlAllKeys = `-- all tenant keys
SELECT ` + sqlkit.KeyColumns + ` FROM tenant_model_keys WHERE (tenant_id COLLATE "C", provider COLLATE "C") > ($1, $2)
ORDER BY tenant_id COLLATE "C", provider COLLATE "C" LIMIT $3`
	sqlResealKey = `-- reseal tenant key
UPDATE tenant_model_keys SET key_id = $4, nonce = $5, ciphertext = $6, revision = nextval('tenant_key_revisions')
WHERE tenant_id = $1 AND provider = $2 AND revision = $3
RETURNING revision`
	sqlKeyRevision = `-- tenant key revision
SELECT revision FROM tenant_model_keys WHERE tenant_id = $1 AND provider = $2`

	sqlSetBudget = `-- set budget
INSERT INTO tenant_budgets (tenant_id, monthly_tokens, month, spent_before, set_ns) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id) DO UPDATE SET monthly_tokens = EXCLUDED.monthly_tokens, month = EXCLUDED.month,
	spent_before = EXCLUDED.spent_before, set_ns = EXCLUDED.set_ns`
	sqlGetBudget = `-- get budget
SELECT tenant_id, monthly_tokens, month, spent_before, set_ns FROM tenant_budgets WHERE tenant_id = $1`
	sqlDelBudget = `-- delete budget
DELETE FROM tenant_budgets WHERE tenant_id = $1`
	// $1 tenant, $2 period, $3 limit, $4 holder, $5 claim nonce: the
	// count of claimed blocks, and the block this claim holds (NULL when
	// none): the one an earlier round of the claim took, or the one this
	// statement took. The unique index on the nonce gives a claim one
	// block even when two of its statements run at once.
	sqlClaimBlock = `-- claim budget block
WITH m AS (SELECT block FROM budget_blocks WHERE tenant_id = $1 AND period = $2 AND claim = $5),
c AS (SELECT count(*)::int AS n FROM budget_blocks WHERE tenant_id = $1 AND period = $2),
i AS (INSERT INTO budget_blocks (tenant_id, period, block, holder, claim) SELECT $1, $2, n, $4, $5 FROM c
	WHERE n < $3 AND NOT EXISTS (SELECT 1 FROM m)
	ON CONFLICT DO NOTHING RETURNING block)
SELECT c.n, coalesce((SELECT block FROM m), (SELECT block FROM i)) FROM c`

	sqlRecordUsage = `-- record usage
INSERT INTO tenant_usage (tenant_id, month, holder, prompt, completion, turns, updated_ns) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, month, holder) DO UPDATE SET prompt = EXCLUDED.prompt, completion = EXCLUDED.completion,
	turns = EXCLUDED.turns, updated_ns = EXCLUDED.updated_ns`
	sqlMonthUsage = `-- month usage
SELECT coalesce(sum(prompt), 0)::bigint, coalesce(sum(completion), 0)::bigint, coalesce(sum(turns), 0)::bigint
FROM tenant_usage WHERE tenant_id = $1 AND month = $2`
)

// keyWrite runs write in a transaction holding the lock of the tenant's
// key of provider; write returns the revision it stored. It is sent again
// after a lost connection. A transaction whose connection was lost before
// its commit was sent was rolled back, and is sent as it was. One whose
// commit was lost may have landed: the next send reads the key's revision
// under the lock first. Still the revision the lost commit stored, the
// write landed and is done; an older one shows it did not (every later
// write draws a higher one), and it is written. A newer revision, or no
// key, may be a later write or a delete after the one that landed, which
// a second write would undo: the loss is returned.
func (s *Tenants) keyWrite(ctx context.Context, what, tenantID, provider string, write func(tx pgx.Tx) (int64, error)) (int64, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	var revision, sent int64 // sent: the revision a send whose commit was lost stored
	var lost error           // that send's loss
	unsettled := false
	again := func(err error) bool {
		return !unsettled && (pgconn.SafeToRetry(err) || retryable(err) || connectionLost(err))
	}
	err := retryWhile(ctx, again, func() error {
		committing := false
		err := pgx.BeginFunc(ctx, s.db.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, sqlLockKey, tenantID, provider); err != nil {
				return err
			}
			if sent != 0 {
				cur, err := s.keyRevision(ctx, tx, tenantID, provider)
				switch {
				case err != nil:
					return err
				case cur == sent:
					revision = sent
					return nil
				case cur == 0 || cur > sent:
					unsettled = true
					return lost
				}
			}
			r, err := write(tx)
			if err != nil {
				return err
			}
			revision, committing = r, true
			return nil
		})
		if committing && answerLost(err) {
			sent, lost = revision, err
		}
		return err
	})
	if err != nil {
		return 0, fail(err, what)
	}
	return revision, nil
}

// keyRevision is the revision of the tenant's key of provider, 0 when it
// has none.
func (s *Tenants) keyRevision(ctx context.Context, tx pgx.Tx, tenantID, provider string) (int64, error) {
	var cur int64
	err := tx.QueryRow(ctx, sqlKeyRevision, tenantID, provider).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return cur, err
}

// PutTenantModelKey implements ports.TenantModelKeyStore: one upsert under
// the key's lock, sent again after a lost connection (keyWrite).
func (s *Tenants) PutTenantModelKey(ctx context.Context, rec ports.TenantModelKey) (int64, error) {
	models, err := sqlkit.EncodeModels(rec.Models)
	if err != nil {
		return 0, err
	}
	return s.keyWrite(ctx, "put tenant model key", rec.TenantID, rec.Provider, func(tx pgx.Tx) (revision int64, err error) {
		err = tx.QueryRow(ctx, sqlPutKey, rec.TenantID, rec.Provider, rec.Secret.KeyID, sqlkit.NotNull(rec.Secret.Nonce),
			sqlkit.NotNull(rec.Secret.Ciphertext), rec.Hint, rec.BaseURL, models, rec.SetAt.UnixNano()).Scan(&revision)
		return revision, err
	})
}

// TenantModelKeys implements ports.TenantModelKeyStore.
func (s *Tenants) TenantModelKeys(ctx context.Context, tenantID string) ([]ports.TenantModelKey, error) {
	return s.readKeys(ctx, sqlTenantKeys, tenantID)
}

func (s *Tenants) readKeys(ctx context.Context, query string, args ...any) ([]ports.TenantModelKey, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	var keys []ports.TenantModelKey
	err := retryIdempotent(ctx, func() error {
		rows, err := s.db.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		keys, err = sqlkit.Collect(rows, sqlkit.ScanKey)
		return err
	})
	return keys, fail(err, "read tenant model keys")
}

// DeleteTenantModelKey implements ports.TenantModelKeyStore: one delete,
// without the key's lock, which orders the revisions a delete does not
// draw.
func (s *Tenants) DeleteTenantModelKey(ctx context.Context, tenantID, provider string) error {
	deleted, err := s.db.deleteRow(ctx, "delete tenant model key", sqlDeleteKey, tenantID, provider)
	if err == nil && !deleted {
		return sqlkit.NoKey(provider)
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

// ResealTenantModelKey implements ports.TenantModelKeyStore: one update
// of the key at rec.Revision under the key's lock, sent again after a lost
// connection (keyWrite).
func (s *Tenants) ResealTenantModelKey(ctx context.Context, rec ports.TenantModelKey) error {
	_, err := s.keyWrite(ctx, "reseal tenant model key", rec.TenantID, rec.Provider, func(tx pgx.Tx) (int64, error) {
		var revision int64
		err := tx.QueryRow(ctx, sqlResealKey, rec.TenantID, rec.Provider, rec.Revision, rec.Secret.KeyID, sqlkit.NotNull(rec.Secret.Nonce),
			sqlkit.NotNull(rec.Secret.Ciphertext)).Scan(&revision)
		if !errors.Is(err, pgx.ErrNoRows) {
			return revision, err
		}
		cur, err := s.keyRevision(ctx, tx, rec.TenantID, rec.Provider)
		switch {
		case err != nil:
			return 0, err
		case cur == 0:
			return 0, sqlkit.NoKey(rec.Provider)
		}
		return 0, sqlkit.KeyChanged(rec.Provider)
	})
	return err
}

// exec runs one upsert of its own values, sent again when it did not
// reach the server, a conflict rolled it back or its connection was lost:
// sent twice, it stores what it stored once.
func (s *Tenants) exec(ctx context.Context, what, query string, args ...any) error {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	err := retryIdempotent(ctx, func() error {
		_, err := s.db.pool.Exec(ctx, query, args...)
		return err
	})
	return fail(err, what)
}

// SetTenantBudget implements ports.BudgetStore.
func (s *Tenants) SetTenantBudget(ctx context.Context, b ports.TenantBudget) error {
	return s.exec(ctx, "set tenant budget", sqlSetBudget, b.TenantID, b.MonthlyTokens, b.Month, b.SpentBefore, b.SetAt.UnixNano())
}

// TenantBudget implements ports.BudgetStore.
func (s *Tenants) TenantBudget(ctx context.Context, tenantID string) (*ports.TenantBudget, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	var b *ports.TenantBudget
	err := retryIdempotent(ctx, func() (err error) {
		b, err = sqlkit.ScanBudget(s.db.pool.QueryRow(ctx, sqlGetBudget, tenantID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlkit.NoBudget()
	}
	if err != nil {
		return nil, fail(err, "read tenant budget")
	}
	return b, nil
}

// DeleteTenantBudget implements ports.BudgetStore.
func (s *Tenants) DeleteTenantBudget(ctx context.Context, tenantID string) error {
	deleted, err := s.db.deleteRow(ctx, "delete tenant budget", sqlDelBudget, tenantID)
	if err == nil && !deleted {
		return sqlkit.NoBudget()
	}
	return err
}

// claimRoundsPerBlock bounds the rounds of a block claimer that keeps
// losing the next number to others.
const claimRoundsPerBlock = 64

// ClaimBudgetBlock implements ports.BudgetStore: each round claims the
// next number, or learns that every block below limit is claimed; a round
// that lost its number to a concurrent claimer tries the next. Every
// round of one call carries the call's nonce, so a round sent again after
// its answer was lost finds the block it took (the holder names the
// instance, which claims many blocks) and no call takes two.
func (s *Tenants) ClaimBudgetBlock(ctx context.Context, tenantID, period string, limit int, holder string) (int, bool, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	claim := rand.Text()
	for range claimRoundsPerBlock {
		var claimed int
		var block *int
		err := retryIdempotent(ctx, func() error {
			return s.db.pool.QueryRow(ctx, sqlClaimBlock, tenantID, period, limit, holder, claim).Scan(&claimed, &block)
		})
		switch {
		case err != nil:
			return 0, false, fail(err, "claim budget block")
		case block != nil:
			return *block, true, nil
		case claimed >= limit:
			return 0, false, nil
		}
	}
	return 0, false, sqlkit.Busy("the budget blocks of this tenant keep being claimed; retry")
}

// RecordUsage implements ports.UsageMeter.
func (s *Tenants) RecordUsage(ctx context.Context, rec ports.UsageRecord) error {
	return s.exec(ctx, "record usage", sqlRecordUsage, rec.TenantID, rec.Month, rec.Holder, rec.Prompt, rec.Completion, rec.Turns,
		rec.UpdatedAt.UnixNano())
}

// MonthUsage implements ports.UsageMeter.
func (s *Tenants) MonthUsage(ctx context.Context, tenantID, month string) (ports.UsageTotals, error) {
	ctx, cancel := s.db.op(ctx)
	defer cancel()
	var u ports.UsageTotals
	err := retryIdempotent(ctx, func() error {
		return s.db.pool.QueryRow(ctx, sqlMonthUsage, tenantID, month).Scan(&u.Prompt, &u.Completion, &u.Turns)
	})
	return u, fail(err, "read usage")
}
