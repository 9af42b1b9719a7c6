package application

import (
	"context"
	"fmt"
	"slices"
	"time"

	"focal/domain"
	"focal/ports"
)

// A copied turn is committed under a lease of the target like any other:
// it waits this long for a session a live target is using, and holds the
// lease this long (one commit needs far less).
const (
	copyLockWait = 10 * time.Second
	copyLeaseTTL = 30 * time.Second
)

// copySessions copies the tenant's closed sessions, then its active
// ones: a channel key has one active session and any number of closed
// ones, so each closed session of a key is created and closed in the
// target before the key's active session is created there. Each pass
// pages through the source's listing, one page in hand at a time. A
// session that closes between the passes is in neither; the next run
// copies it (docs/operations.md: copy, stop the service, copy again).
func (c *StoreCopy) copySessions(ctx context.Context, tenantID string, res *CopyResult) error {
	for _, status := range []domain.SessionStatus{domain.SessionClosed, domain.SessionActive} {
		q := ports.SessionQuery{Status: status, Page: ports.PageRequest{Limit: ports.MaxPageSize}}
		for {
			p, err := c.from.Sessions.ListSessions(ctx, tenantID, q)
			if err != nil {
				return err
			}
			for i := range p.Items {
				if err := res.note(c.copySession(ctx, &p.Items[i], res)); err != nil {
					return fmt.Errorf("session %s: %w", p.Items[i].ID, err)
				}
			}
			if p.NextCursor == "" {
				break
			}
			q.Page.Cursor = p.NextCursor
		}
	}
	return nil
}

// copySession creates the session in the target when it has none, commits
// the turns the target lacks, in order, and closes it when the source's
// is closed.
func (c *StoreCopy) copySession(ctx context.Context, s *domain.Session, res *CopyResult) error {
	target, err := c.to.Sessions.GetSession(ctx, s.TenantID, s.ID)
	if err != nil && !domain.IsCode(err, domain.CodeSessionNotFound) {
		return err
	}
	changed := false
	if target == nil {
		if err := c.createSession(ctx, s); err != nil {
			return err
		}
		changed = true
	}
	done := 0
	if target != nil {
		done = target.TurnCount
	}
	n, err := c.copyTurns(ctx, s, done)
	res.Turns += n
	if err != nil {
		return err
	}
	changed = changed || n > 0
	if s.Status == domain.SessionClosed && (target == nil || target.Status != domain.SessionClosed) && s.ClosedAt != nil {
		if _, err := c.to.Sessions.CloseSession(ctx, s.TenantID, s.ID, *s.ClosedAt); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		res.Sessions++
	} else {
		res.Kept++
	}
	return nil
}

// createSession stores the session as it was opened, by its channel key
// as the service does, and gives the lease back.
func (c *StoreCopy) createSession(ctx context.Context, s *domain.Session) error {
	lease, err := c.to.Locker.LockSession(ctx, ports.LockRequest{
		TenantID: s.TenantID, Candidate: domain.NewSession(s.ID, s.Key(), s.CreatedAt), Wait: copyLockWait, TTL: copyLeaseTTL,
	})
	if err != nil {
		return err
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	if got := lease.Token().SessionID; got != s.ID {
		return problemf("session %s: its channel key has another active session in the target (%s); not copied", s.ID, got)
	}
	return nil
}

// copyTurns commits the source's turns after the target's first done, one
// lease each, and returns how many it committed.
func (c *StoreCopy) copyTurns(ctx context.Context, s *domain.Session, done int) (int, error) {
	if done >= s.TurnCount {
		return 0, nil
	}
	n := 0
	q := ports.TurnQuery{Order: ports.OrderAsc, Page: ports.PageRequest{Limit: ports.MaxPageSize}}
	for {
		p, err := c.from.Turns.ListTurns(ctx, s.TenantID, s.ID, q)
		if err != nil {
			return n, err
		}
		for i := range p.Items {
			if p.Items[i].TurnNumber <= done {
				continue
			}
			if err := c.commitTurn(ctx, s, &p.Items[i]); err != nil {
				return n, err
			}
			n++
		}
		if p.NextCursor == "" {
			return n, nil
		}
		q.Page.Cursor = p.NextCursor
	}
}

// commitTurn commits one turn record, as stored, under a lease of the
// session in the target, which must be waiting for exactly that turn.
func (c *StoreCopy) commitTurn(ctx context.Context, s *domain.Session, turn *domain.Turn) error {
	lease, err := c.to.Locker.LockSession(ctx, ports.LockRequest{TenantID: s.TenantID, SessionID: s.ID, Wait: copyLockWait, TTL: copyLeaseTTL})
	if err != nil {
		return err
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	if next := lease.Token().TurnNumber; next != turn.TurnNumber {
		return problemf("session %s: the target waits for turn %d, the source's next is turn %d (dropped by its retention); the rest not copied",
			s.ID, next, turn.TurnNumber)
	}
	return c.to.Turns.CommitTurn(ctx, lease.Token(), turn)
}

// copyKeys copies the tenant's model keys still sealed: the target's
// service must run with the FOCAL_SECRET_KEY (or FOCAL_SECRET_KEYS_OLD)
// that sealed them. A provider the target has a key for keeps it.
func (c *StoreCopy) copyKeys(ctx context.Context, tenantID string, res *CopyResult) error {
	keys, err := c.from.Keys.TenantModelKeys(ctx, tenantID)
	if err != nil {
		return err
	}
	have, err := c.to.Keys.TenantModelKeys(ctx, tenantID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if slices.ContainsFunc(have, func(h ports.TenantModelKey) bool { return h.Provider == k.Provider }) {
			res.Kept++
			continue
		}
		if _, err := c.to.Keys.PutTenantModelKey(ctx, k); err != nil {
			return fmt.Errorf("%s key: %w", k.Provider, err)
		}
		res.Keys++
	}
	return nil
}

// usageHolder is the holder the copied usage is recorded under.
const usageHolder = "focal store copy"

// copyBudget copies this month's usage as one holder's record, and the
// budget when the target has none. The blocks instances claimed from it
// are not copied: the budget is rebased instead, its month this one and
// what was spent before it the month's usage so far, so the target's
// instances claim only what is left.
func (c *StoreCopy) copyBudget(ctx context.Context, tenantID string, res *CopyResult) error {
	now := c.clock.Now()
	month := MonthOf(now)
	used, err := c.from.Usage.MonthUsage(ctx, tenantID, month)
	if err != nil {
		return err
	}
	if used != (ports.UsageTotals{}) {
		err := c.to.Usage.RecordUsage(ctx, ports.UsageRecord{TenantID: tenantID, Month: month, Holder: usageHolder,
			Prompt: used.Prompt, Completion: used.Completion, Turns: used.Turns, UpdatedAt: now.UTC()})
		if err != nil {
			return err
		}
	}
	b, err := c.from.Budgets.TenantBudget(ctx, tenantID)
	if domain.IsCode(err, domain.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch _, err := c.to.Budgets.TenantBudget(ctx, tenantID); {
	case err == nil:
		res.Kept++
		return nil
	case !domain.IsCode(err, domain.CodeNotFound):
		return err
	}
	b.Month, b.SpentBefore = month, used.Prompt+used.Completion
	if err := c.to.Budgets.SetTenantBudget(ctx, *b); err != nil {
		return err
	}
	res.Budgets++
	return nil
}
