package memory

import (
	"context"
	"sync"

	"focal/domain"
	"focal/ports"
)

// Budgets keeps tenants' token budgets and the blocks claimed from them in
// process memory.
type Budgets struct {
	mu      sync.Mutex
	budgets map[string]ports.TenantBudget
	// claimed counts the blocks claimed per tenant/period: blocks are handed
	// out in order, so the next one is the count.
	claimed map[string]int
}

var _ ports.BudgetStore = (*Budgets)(nil)

// NewBudgets returns an empty budget store.
func NewBudgets() *Budgets {
	return &Budgets{budgets: map[string]ports.TenantBudget{}, claimed: map[string]int{}}
}

// SetTenantBudget implements ports.BudgetStore.
func (s *Budgets) SetTenantBudget(ctx context.Context, b ports.TenantBudget) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budgets[b.TenantID] = b
	return nil
}

// TenantBudget implements ports.BudgetStore.
func (s *Budgets) TenantBudget(ctx context.Context, tenantID string) (*ports.TenantBudget, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.budgets[tenantID]
	if !ok {
		return nil, domain.Errorf(domain.CodeNotFound, "no budget is set")
	}
	return &b, nil
}

// DeleteTenantBudget implements ports.BudgetStore.
func (s *Budgets) DeleteTenantBudget(ctx context.Context, tenantID string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.budgets[tenantID]; !ok {
		return domain.Errorf(domain.CodeNotFound, "no budget is set")
	}
	delete(s.budgets, tenantID)
	return nil
}

// ClaimBudgetBlock implements ports.BudgetStore.
func (s *Budgets) ClaimBudgetBlock(ctx context.Context, tenantID, period string, limit int, _ string) (int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := tenantID + "/" + period
	n := s.claimed[key]
	if n >= limit {
		return 0, false, nil
	}
	s.claimed[key] = n + 1
	return n, true, nil
}
