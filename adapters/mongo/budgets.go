package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
	"focal/ports"
)

// Budgets implements ports.BudgetStore on MongoDB. A budget is a series of
// insert-once revisions; a block is claimed by inserting its document,
// whose _id (tenant, period, number) makes the claim exclusive: correct on
// servers that lose concurrent updates. It is safe for concurrent use.
type Budgets struct {
	revs revisions
}

var _ ports.BudgetStore = (*Budgets)(nil)

type budgetDoc struct {
	TenantID      string    `bson:"tenant_id"`
	Revision      int64     `bson:"revision"`
	Deleted       bool      `bson:"deleted,omitempty"`
	MonthlyTokens int64     `bson:"monthly_tokens,omitempty"`
	Month         string    `bson:"month,omitempty"`
	SpentBefore   int64     `bson:"spent_before,omitempty"`
	SetAt         time.Time `bson:"set_at"`
}

type blockDoc struct {
	ID       string `bson:"_id"`
	TenantID string `bson:"tenant_id"`
	Period   string `bson:"period"`
	Block    int    `bson:"block"`
	Holder   string `bson:"holder"`
	// Claim is unique to one insert, so a claim whose answer was lost
	// knows its block from another claimer's, even of the same holder.
	Claim     string    `bson:"claim"`
	ClaimedAt time.Time `bson:"claimed_at"`
}

// NewBudgets returns the budget store of db.
func NewBudgets(db *DB) *Budgets {
	return &Budgets{revs: revisions{db: db, of: func(db *DB) *mdb.Collection { return db.tenantBudgets }}}
}

func budgetKey(tenantID string) bson.D { return bson.D{{Key: "tenant_id", Value: tenantID}} }

// SetTenantBudget implements ports.BudgetStore.
func (s *Budgets) SetTenantBudget(ctx context.Context, b ports.TenantBudget) error {
	_, err := s.revs.write(ctx, budgetKey(b.TenantID), -1, nil, func(rev int64, _ bool) (any, error) {
		return budgetDoc{TenantID: b.TenantID, Revision: rev, MonthlyTokens: b.MonthlyTokens, Month: b.Month,
			SpentBefore: b.SpentBefore, SetAt: b.SetAt}, nil
	})
	return err
}

// TenantBudget implements ports.BudgetStore: one round trip.
func (s *Budgets) TenantBudget(ctx context.Context, tenantID string) (*ports.TenantBudget, error) {
	var d budgetDoc
	_, found, err := s.revs.newest(ctx, budgetKey(tenantID), &d)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, domain.Errorf(domain.CodeNotFound, "no budget is set")
	}
	return &ports.TenantBudget{TenantID: d.TenantID, MonthlyTokens: d.MonthlyTokens, Month: d.Month,
		SpentBefore: d.SpentBefore, SetAt: d.SetAt}, nil
}

// DeleteTenantBudget implements ports.BudgetStore: a tombstone revision.
func (s *Budgets) DeleteTenantBudget(ctx context.Context, tenantID string) error {
	_, err := s.revs.write(ctx, budgetKey(tenantID), -1, nil, func(rev int64, found bool) (any, error) {
		if !found {
			return nil, domain.Errorf(domain.CodeNotFound, "no budget is set")
		}
		return budgetDoc{TenantID: tenantID, Revision: rev, Deleted: true}, nil
	})
	return err
}

// ClaimBudgetBlock implements ports.BudgetStore. Blocks are claimed in
// order, so the count of claimed blocks is the next free number; a claimer
// that finds it taken by a racer tries the next. A claim whose answer was
// lost is settled by reading the block back (its holder tells). Two round
// trips when uncontended.
func (s *Budgets) ClaimBudgetBlock(ctx context.Context, tenantID, period string, limit int, holder string) (int, bool, error) {
	db := s.revs.db
	cctx, cancel := db.op(ctx)
	n, err := db.budgetBlocks.CountDocuments(cctx, bson.D{{Key: "tenant_id", Value: tenantID}, {Key: "period", Value: period}})
	cancel()
	if err != nil {
		return 0, false, fail(err, "count budget blocks")
	}
	for block := int(n); block < limit; block++ {
		claim := bson.NewObjectID().Hex()
		won, err := db.insertOnce(ctx, db.budgetBlocks, blockDoc{ID: fmt.Sprintf("%s|%s|%d", tenantID, period, block), TenantID: tenantID,
			Period: period, Block: block, Holder: holder, Claim: claim, ClaimedAt: db.clock.Now()}, "claim a budget block",
			readBack{mine: fieldIs("claim", claim), onDuplicate: true})
		if err != nil {
			return 0, false, err
		}
		if won {
			return block, true, nil
		}
	}
	return 0, false, nil
}
