package application

import (
	"context"
	"fmt"
	"strings"
	"time"

	"focal/domain"
)

// LintPolicy returns a valid policy's warnings (domain.LintPolicy), in
// declaration order of the parts they are about.
func LintPolicy(p *domain.Policy) []domain.LintWarning {
	w := domain.LintPolicy(p)
	if w == nil {
		return []domain.LintWarning{}
	}
	return w
}

// Lint returns the warnings of an agent's stored policy, once no other lint
// is running in this process: a lint trains the policy's matchers several
// times, which many imports at once must not multiply. TIMEOUT when ctx
// ends first.
func (a *PolicyAdmin) Lint(ctx context.Context, p *domain.Policy) ([]domain.LintWarning, error) {
	ctx, cancel := context.WithTimeout(ctx, lintBudget)
	defer cancel()
	select {
	case a.linting <- struct{}{}:
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "the policy waited too long to be checked")
	}
	// The lint finishes (and frees its turn) even when the caller stops
	// waiting: it cannot be interrupted half-way.
	done := make(chan []domain.LintWarning, 1)
	go func() {
		defer func() { <-a.linting }()
		done <- LintPolicy(p)
	}()
	select {
	case w := <-done:
		return w, nil
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "the policy took too long to be checked")
	}
}

// lintBudget bounds how long a write waits for its warnings: a very large
// policy is stored and answered without them.
const lintBudget = 10 * time.Second

// Warnings lints the agent's policy and returns the warnings about the
// part with id, their fields relative to the part ("examples[2]"). It is
// for the part's writes: what the change may have done wrong.
// AGENT_NOT_FOUND, NOT_FOUND, TIMEOUT.
func (s *PolicyParts[T]) Warnings(ctx context.Context, tenantID, agentID, id string) ([]domain.LintWarning, error) {
	p, err := s.admin.load(ctx, tenantID, agentID)
	if err != nil {
		return nil, err
	}
	i := s.index(p, id)
	if i < 0 {
		return nil, s.notFound(id)
	}
	all, err := s.admin.Lint(ctx, p)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("%s[%d]", s.kind.field, i)
	out := []domain.LintWarning{}
	for _, w := range all {
		if rest, ok := strings.CutPrefix(w.Field, prefix+"."); ok {
			w.Field = rest
			out = append(out, w)
		}
	}
	return out, nil
}
