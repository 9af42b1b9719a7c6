package application

import (
	"context"
	"fmt"
	"strings"
	"time"

	"focal/domain"
	"focal/ports"
)

// LintPolicy returns a valid policy's warnings: domain.LintPolicy's, then
// the tools whose address addresses refuses (none when it is nil).
func LintPolicy(p *domain.Policy, addresses ports.ToolAddresses) []domain.LintWarning {
	w := append(domain.LintPolicy(p), lintToolAddresses(p, addresses)...)
	if w == nil {
		return []domain.LintWarning{}
	}
	return w
}

// lintToolAddresses warns of the tools no call can reach from this
// process: their URL's host is an address (or localhost) its tool calls
// may not reach, and not exempt. The write stands; an operator may yet
// allow the host, or the tenant point the tool elsewhere.
func lintToolAddresses(p *domain.Policy, addresses ports.ToolAddresses) []domain.LintWarning {
	if addresses == nil {
		return nil
	}
	var out []domain.LintWarning
	for i, t := range p.Tools {
		if why, refused := addresses.Refuses(t.URL); refused {
			out = append(out, domain.LintWarning{Code: domain.LintToolAddressRefused, Field: fmt.Sprintf("tools[%d].url", i),
				Message: fmt.Sprintf("tool %s can never be called from this service: %s", t.ID, why)})
		}
	}
	return out
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
		done <- LintPolicy(p, a.addresses)
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
	all, err := s.lint(ctx, p)
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

// lint returns the warnings a write of this kind of part may have caused.
// A tool has only its address to check: it needs none of the matcher
// training, nor the wait for another lint, of the whole policy's lint.
func (s *PolicyParts[T]) lint(ctx context.Context, p *domain.Policy) ([]domain.LintWarning, error) {
	if s.kind.field == toolKind.field {
		return lintToolAddresses(p, s.admin.addresses), nil
	}
	return s.admin.Lint(ctx, p)
}
