package memory

import (
	"context"
	"sync"

	"focal/ports"
)

// Usage keeps tenants' token usage in process memory.
type Usage struct {
	mu      sync.Mutex
	records map[string]ports.UsageRecord // tenant/month/holder → totals
}

var _ ports.UsageMeter = (*Usage)(nil)

// NewUsage returns an empty usage meter.
func NewUsage() *Usage { return &Usage{records: map[string]ports.UsageRecord{}} }

// RecordUsage implements ports.UsageMeter.
func (s *Usage) RecordUsage(ctx context.Context, rec ports.UsageRecord) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[rec.TenantID+"/"+rec.Month+"/"+rec.Holder] = rec
	return nil
}

// MonthUsage implements ports.UsageMeter.
func (s *Usage) MonthUsage(ctx context.Context, tenantID, month string) (ports.UsageTotals, error) {
	if err := ctx.Err(); err != nil {
		return ports.UsageTotals{}, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t ports.UsageTotals
	for _, r := range s.records {
		if r.TenantID == tenantID && r.Month == month {
			t.Prompt += r.Prompt
			t.Completion += r.Completion
			t.Turns += r.Turns
		}
	}
	return t, nil
}
