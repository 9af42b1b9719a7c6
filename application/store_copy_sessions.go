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

// copySessions copies the sessions the source holds when the run begins,
// whatever their status becomes meanwhile. A channel key has one active
// session and any number of closed ones, so each closed session of a key
// is created and closed in the target before the key's active session is
// created there. The first pass copies the closed sessions; the second
// goes through every session by creation, newest first, an order no
// status change moves, and copies what the first did not: the active
// sessions, and those that closed after the first pass went by them.
//
// The second listing's first page is read before the first pass, so the
// second pass holds the sessions there when the run began and none begun
// later (those are newer than all of them): a session begun meanwhile on
// the key of one that closed is left to the next run, and cannot keep the
// closed one from being created. Each pass pages through the source's
// listing, one page in hand at a time (and that first page).
func (c *StoreCopy) copySessions(ctx context.Context, tenantID string, res *CopyResult) error {
	all := ports.SessionQuery{Page: ports.PageRequest{Limit: ports.MaxPageSize}}
	began, err := c.from.Sessions.ListSessions(ctx, tenantID, all)
	if err != nil {
		return err
	}
	closed := ports.SessionQuery{Status: domain.SessionClosed, Page: all.Page}
	err = c.eachSession(ctx, tenantID, closed, nil, res, func(s *domain.Session) error {
		target, err := c.targetSession(ctx, s)
		if err != nil {
			return err
		}
		return c.bringSession(ctx, s, target, res)
	})
	if err != nil {
		return err
	}
	// The first page's sessions as they are now: closed, or deleted, since.
	if began.Items, err = c.current(ctx, tenantID, began.Items); err != nil {
		return err
	}
	return c.eachSession(ctx, tenantID, all, &began, res, func(s *domain.Session) error { return c.copyRest(ctx, s, res) })
}

// eachSession calls each for every session of the source's listing q,
// a page at a time, starting with first when given; a problem each
// returns is noted in res and the next session follows.
func (c *StoreCopy) eachSession(ctx context.Context, tenantID string, q ports.SessionQuery, first *ports.Page[domain.Session],
	res *CopyResult, each func(*domain.Session) error) error {
	var p ports.Page[domain.Session]
	if first != nil {
		p = *first
	} else if err := c.listSessions(ctx, tenantID, q, &p); err != nil {
		return err
	}
	for {
		for i := range p.Items {
			if err := res.note(each(&p.Items[i])); err != nil {
				return fmt.Errorf("session %s: %w", p.Items[i].ID, err)
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		q.Page.Cursor = p.NextCursor
		if err := c.listSessions(ctx, tenantID, q, &p); err != nil {
			return err
		}
	}
}

func (c *StoreCopy) listSessions(ctx context.Context, tenantID string, q ports.SessionQuery, p *ports.Page[domain.Session]) error {
	var err error
	*p, err = c.from.Sessions.ListSessions(ctx, tenantID, q)
	return err
}

// current reads the sessions again from the source, leaving out those
// deleted since.
func (c *StoreCopy) current(ctx context.Context, tenantID string, listed []domain.Session) ([]domain.Session, error) {
	now := listed[:0]
	for _, s := range listed {
		got, err := c.from.Sessions.GetSession(ctx, tenantID, s.ID)
		switch {
		case domain.IsCode(err, domain.CodeSessionNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("session %s: %w", s.ID, err)
		}
		now = append(now, *got)
	}
	return now, nil
}

// copyRest copies a session of the second pass (see copySessions): an
// active one, or a closed one the target lacks or holds active, which
// closed after the first pass went by it. One the target holds closed
// with all its turns the first pass copied or kept, and counted.
func (c *StoreCopy) copyRest(ctx context.Context, s *domain.Session, res *CopyResult) error {
	target, err := c.targetSession(ctx, s)
	if err != nil {
		return err
	}
	if s.Status == domain.SessionClosed && target != nil && target.Status == domain.SessionClosed && target.TurnCount >= s.TurnCount {
		return nil
	}
	return c.bringSession(ctx, s, target, res)
}

// targetSession is the target's session of the source's s, nil when it
// has none.
func (c *StoreCopy) targetSession(ctx context.Context, s *domain.Session) (*domain.Session, error) {
	target, err := c.to.Sessions.GetSession(ctx, s.TenantID, s.ID)
	if domain.IsCode(err, domain.CodeSessionNotFound) {
		return nil, nil
	}
	return target, err
}

// bringSession creates the session in the target when it has none
// (target nil), commits the turns the target lacks, in order, and closes
// it when the source's is closed.
func (c *StoreCopy) bringSession(ctx context.Context, s *domain.Session, target *domain.Session, res *CopyResult) error {
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
// session in the target, which must be waiting for exactly that turn. A
// turn whose session was closed while it ran (its SessionAfter closed) is
// committed after the target's session is closed under its lease, as the
// source's was: a store sets the status, close time and version a turn
// reads back from the session it commits to, so committed first the turn
// would read back active on the target.
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
	if after := turn.SessionAfter; after != nil && after.Status == domain.SessionClosed && after.ClosedAt != nil {
		if _, err := c.to.Sessions.CloseSession(ctx, s.TenantID, s.ID, *after.ClosedAt); err != nil {
			return err
		}
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
