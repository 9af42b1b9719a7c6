package application

import (
	"context"
	"errors"
	"time"

	"focal/domain"
	"focal/ports"
)

// MaxMonthlyTokens bounds a budget (a trillion tokens: far beyond any real
// month, safely inside int64 arithmetic).
const MaxMonthlyTokens = 1_000_000_000_000

// BudgetView is a tenant's budget as clients see it.
type BudgetView struct {
	MonthlyTokens int64 `json:"monthly_tokens"`
	// RemainingTokens is what is left this month by the usage counted so
	// far (instances report theirs every usage flush).
	RemainingTokens int64     `json:"remaining_tokens"`
	SetAt           time.Time `json:"set_at"`
}

// UsageView is a tenant's token usage this month.
type UsageView struct {
	Month            string      `json:"month"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	TotalTokens      int64       `json:"total_tokens"`
	Turns            int64       `json:"turns"`
	Budget           *BudgetView `json:"budget"`
	ResetsAt         time.Time   `json:"resets_at"`
}

// TenantUsage is the use case of a tenant's budget and usage: set or drop
// the monthly budget, read the month's usage.
type TenantUsage struct {
	gate    *BudgetGate
	budgets ports.BudgetStore
	meter   ports.UsageMeter
	clock   ports.Clock
}

// NewTenantUsage returns the use case over the gate's stores.
func NewTenantUsage(gate *BudgetGate) (*TenantUsage, error) {
	if gate == nil {
		return nil, errors.New("tenant usage: a budget gate is required")
	}
	return &TenantUsage{gate: gate, budgets: gate.budgets, meter: gate.meter, clock: gate.clock}, nil
}

// monthUsage is the tenant's usage this month, this instance's own
// counted up to now.
func (u *TenantUsage) monthUsage(ctx context.Context, tenantID string, now time.Time) (ports.UsageTotals, error) {
	if err := u.gate.Flush(ctx, tenantID); err != nil {
		return ports.UsageTotals{}, err
	}
	return u.meter.MonthUsage(ctx, tenantID, MonthOf(now))
}

// Usage reports the tenant's usage this month and its budget.
// STORE_UNAVAILABLE.
func (u *TenantUsage) Usage(ctx context.Context, tenantID string) (UsageView, error) {
	now := u.clock.Now()
	t, err := u.monthUsage(ctx, tenantID, now)
	if err != nil {
		return UsageView{}, err
	}
	v := UsageView{Month: MonthOf(now), PromptTokens: t.Prompt, CompletionTokens: t.Completion, TotalTokens: t.Prompt + t.Completion,
		Turns: t.Turns, ResetsAt: MonthEnd(now)}
	b, err := u.budgets.TenantBudget(ctx, tenantID)
	switch {
	case err == nil:
		v.Budget = &BudgetView{MonthlyTokens: b.MonthlyTokens, RemainingTokens: max(0, b.MonthlyTokens-v.TotalTokens), SetAt: b.SetAt}
	case !domain.IsCode(err, domain.CodeNotFound):
		return UsageView{}, err
	}
	return v, nil
}

// SetBudget sets the tenant's monthly token budget. Set for the first
// time in a month, it counts the month's usage reported so far; changed
// later that month, it keeps that count, so the blocks already claimed
// stay valid. INVALID_REQUEST, STORE_UNAVAILABLE.
func (u *TenantUsage) SetBudget(ctx context.Context, tenantID string, monthlyTokens int64) (BudgetView, error) {
	if monthlyTokens < 1 || monthlyTokens > MaxMonthlyTokens {
		return BudgetView{}, domain.InvalidFields(domain.FieldError{Field: "monthly_tokens", Message: "must be 1..1000000000000"})
	}
	now := u.clock.Now()
	b := ports.TenantBudget{TenantID: tenantID, MonthlyTokens: monthlyTokens, Month: MonthOf(now), SetAt: now.UTC()}
	current, err := u.budgets.TenantBudget(ctx, tenantID)
	switch {
	case err == nil && current.Month == b.Month:
		b.SpentBefore = current.SpentBefore
	case err == nil || domain.IsCode(err, domain.CodeNotFound):
		t, err := u.monthUsage(ctx, tenantID, now)
		if err != nil {
			return BudgetView{}, err
		}
		b.SpentBefore = t.Prompt + t.Completion
	default:
		return BudgetView{}, err
	}
	if err := u.budgets.SetTenantBudget(ctx, b); err != nil {
		return BudgetView{}, err
	}
	u.gate.Forget(tenantID)
	v, err := u.Usage(ctx, tenantID)
	if err != nil {
		return BudgetView{}, err
	}
	if v.Budget == nil { // deleted again meanwhile
		return BudgetView{MonthlyTokens: b.MonthlyTokens, RemainingTokens: max(0, b.MonthlyTokens-v.TotalTokens), SetAt: b.SetAt}, nil
	}
	return *v.Budget, nil
}

// DeleteBudget removes the tenant's budget: its turns are no longer
// limited. NOT_FOUND, STORE_UNAVAILABLE.
func (u *TenantUsage) DeleteBudget(ctx context.Context, tenantID string) error {
	if err := u.budgets.DeleteTenantBudget(ctx, tenantID); err != nil {
		return err
	}
	u.gate.Forget(tenantID)
	return nil
}
