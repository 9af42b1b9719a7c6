package application

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"focal/domain"
	"focal/ports"
)

// StoreSide is every port a tenant's lasting data lives in, of one store.
type StoreSide struct {
	Policies ports.PolicyStore
	History  ports.PolicyHistory
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Locker   ports.SessionLocker
	Keys     ports.TenantModelKeyStore
	Budgets  ports.BudgetStore
	Usage    ports.UsageMeter
	// Tenants lists the tenants the store holds data for (Tenants).
	Tenants ports.TenantLister
}

func (s StoreSide) complete() bool {
	return s.Policies != nil && s.History != nil && s.Sessions != nil && s.Turns != nil && s.Locker != nil &&
		s.Keys != nil && s.Budgets != nil && s.Usage != nil && s.Tenants != nil
}

// StoreCopy copies tenants' data from one store to another through the
// ports alone, so any pair of backends works: agents with every version
// of their current life at the same numbers, sessions with their turn
// records, model keys still sealed, budgets and this month's usage.
// Idempotency records, rate-limit counters and budget block claims are
// short-lived and not copied; the budget is rebased on this month's usage
// instead (see copyBudget).
//
// It is safe to run again: what the target has is kept, what it lacks is
// added (an agent's later versions, a session's later turns), so a second
// run after a complete one copies nothing and one after an interrupted
// run finishes it.
type StoreCopy struct {
	from, to StoreSide
	clock    ports.Clock
}

// NewStoreCopy returns the use case copying from one store to another.
func NewStoreCopy(from, to StoreSide, clock ports.Clock) (*StoreCopy, error) {
	if !from.complete() || !to.complete() || clock == nil {
		return nil, errors.New("store copy: every port of both stores and a clock are required")
	}
	return &StoreCopy{from: from, to: to, clock: clock}, nil
}

// CopyResult counts what Copy did for one tenant.
type CopyResult struct {
	TenantID string
	// Agents and Versions were copied (an agent counts when any of its
	// versions was).
	Agents, Versions int
	// Sessions and Turns were copied (a session counts when it was
	// created, or got turns or its close).
	Sessions, Turns int
	Keys, Budgets   int
	// Kept counts agents, sessions, keys and budgets the target had
	// already, unchanged.
	Kept int
	// Problems name what was not copied and why (the target holds other
	// data under the same id, or the source lost turns to its retention).
	Problems []string
}

// copyProblem is an item that cannot be copied: Copy records it and goes
// on with the next.
type copyProblem struct{ msg string }

func (p *copyProblem) Error() string { return p.msg }

func problemf(format string, args ...any) error {
	return &copyProblem{msg: fmt.Sprintf(format, args...)}
}

// note records err in res when it is a problem and reports whether the
// copy goes on. A problem met again (a session the second pass of
// copySessions tries again) is named once.
func (res *CopyResult) note(err error) error {
	var p *copyProblem
	if errors.As(err, &p) {
		if !slices.Contains(res.Problems, p.msg) {
			res.Problems = append(res.Problems, p.msg)
		}
		return nil
	}
	return err
}

// Copy copies the tenant's data: agents first (turns name their
// versions), then sessions with their turns, model keys and budget.
// STORE_UNAVAILABLE from either store ends it; what was copied stays, and
// a second run goes on from there.
func (c *StoreCopy) Copy(ctx context.Context, tenantID string) (CopyResult, error) {
	res := CopyResult{TenantID: tenantID}
	if !IsUUID(tenantID) {
		return res, domain.InvalidFields(domain.FieldError{Field: "tenant", Message: "must be a UUID"})
	}
	for _, step := range []func(context.Context, string, *CopyResult) error{c.copyAgents, c.copySessions, c.copyKeys, c.copyBudget} {
		if err := step(ctx, tenantID, &res); err != nil {
			return res, fmt.Errorf("tenant %s: %w", tenantID, err)
		}
	}
	return res, nil
}

// Tenants lists every tenant the source holds an agent, a session, a
// model key or a budget for, by id: what copying a whole store copies.
// INVALID_REQUEST and STORE_UNAVAILABLE as the source's listing.
func (c *StoreCopy) Tenants(ctx context.Context) ([]string, error) {
	var all []string
	page := ports.PageRequest{Limit: ports.MaxPageSize}
	for {
		p, err := c.from.Tenants.ListTenants(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list the source's tenants: %w", err)
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all, nil
		}
		page.Cursor = p.NextCursor
	}
}

func (c *StoreCopy) copyAgents(ctx context.Context, tenantID string, res *CopyResult) error {
	page := ports.PageRequest{Limit: ports.MaxPageSize}
	for {
		p, err := c.from.Policies.ListAgents(ctx, tenantID, page)
		if err != nil {
			return err
		}
		for _, a := range p.Items {
			if err := res.note(c.copyAgent(ctx, tenantID, a.ID, res)); err != nil {
				return fmt.Errorf("agent %s: %w", a.ID, err)
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		page.Cursor = p.NextCursor
	}
}

// sourceVersions lists the agent's versions of its current life, oldest
// first; none when it was deleted meanwhile.
func (c *StoreCopy) sourceVersions(ctx context.Context, tenantID, agentID string) ([]domain.Agent, error) {
	var all []domain.Agent
	page := ports.PageRequest{Limit: ports.MaxPageSize}
	for {
		p, err := c.from.History.ListPolicyVersions(ctx, tenantID, agentID, page)
		if domain.IsCode(err, domain.CodeAgentNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			slices.Reverse(all)
			return all, nil
		}
		page.Cursor = p.NextCursor
	}
}

// copyAgent brings the target's agent to the source's current version,
// every version of the current life at its own number. A life that began
// after a deletion (its first version N > 1, N ≥ 3 as the deletion marker
// took N-1) is reached the way the source got there: versions 1..N-2
// holding the first one's policy, a deletion (marker N-1), a create (N).
// The target's state tells where an interrupted run stopped; an agent of
// the target's own under the same id is a problem, left alone.
func (c *StoreCopy) copyAgent(ctx context.Context, tenantID, agentID string, res *CopyResult) error {
	versions, err := c.sourceVersions(ctx, tenantID, agentID)
	if err != nil || len(versions) == 0 {
		return err
	}
	last := versions[len(versions)-1].Version
	copied := false
	for {
		cur, err := c.to.Policies.GetPolicy(ctx, tenantID, agentID)
		if err != nil && !domain.IsCode(err, domain.CodeAgentNotFound) {
			return err
		}
		if cur != nil && cur.Agent.Version >= last {
			if !copied {
				return c.keep(ctx, tenantID, cur, last, res)
			}
			return nil
		}
		saved, err := c.agentStep(ctx, tenantID, cur, versions)
		if err != nil {
			return err
		}
		if !copied {
			res.Agents++
			copied = true
		}
		if saved {
			res.Versions++
		}
	}
}

// keep counts the target's agent as there already when its version last
// is the source's current one (it may have gone on since); else the
// target has an agent of its own under the id.
func (c *StoreCopy) keep(ctx context.Context, tenantID string, cur *domain.Policy, last int64, res *CopyResult) error {
	id := cur.Agent.ID
	var err error
	if cur.Agent.Version > last {
		cur, err = c.to.History.GetPolicyVersion(ctx, tenantID, id, last)
	}
	ours := false
	switch {
	case err == nil:
		if ours, err = c.sameAs(ctx, tenantID, cur, last); err != nil {
			return err
		}
	case !domain.IsCode(err, domain.CodeNotFound):
		return err
	}
	if !ours {
		return problemf("agent %s: the target's version %d is not the source's; not copied", id, last)
	}
	res.Kept++
	return nil
}

// agentStep makes one write that brings the target's agent (cur, nil when
// it has none live) one step closer to the source's versions; saved tells
// whether it stored one of them at its number.
func (c *StoreCopy) agentStep(ctx context.Context, tenantID string, cur *domain.Policy, versions []domain.Agent) (saved bool, err error) {
	first := versions[0]
	id := first.ID
	if cur == nil { // create: lands at first, or starts the filler life
		return c.create(ctx, tenantID, first)
	}
	at, ref := cur.Agent.Version, cur.Agent.Version
	if at < first.Version {
		ref = first.Version // a filler holds the first version's policy
	}
	ours, err := c.sameAs(ctx, tenantID, cur, ref)
	switch {
	case err != nil:
		return false, err
	case !ours && at < first.Version:
		return false, problemf("agent %s: the target has an agent of its own under this id (version %d); not copied", id, at)
	case !ours:
		return false, problemf("agent %s: the target's version %d is not the source's; not copied", id, at)
	case at < first.Version-2:
		_, err := c.savePolicy(ctx, tenantID, id, first.Version, at+1)
		return false, err
	case at == first.Version-2:
		return false, c.to.Policies.DeleteAgent(ctx, tenantID, id)
	case at < first.Version:
		return false, problemf("agent %s: the target used version %d of this id already, so version %d cannot keep its number; not copied", id, at, first.Version)
	}
	_, err = c.savePolicy(ctx, tenantID, id, at+1, at+1)
	return true, err
}

// create creates the agent in the target with its first version's policy:
// at that version, or below it (a filler, see copyAgent). Above it the
// target had used the id further than the source: the agent is deleted
// again and the copy refused.
func (c *StoreCopy) create(ctx context.Context, tenantID string, first domain.Agent) (saved bool, err error) {
	got, err := c.savePolicy(ctx, tenantID, first.ID, first.Version, 0)
	switch {
	case err != nil:
		return false, err
	case got <= first.Version:
		return got == first.Version, nil
	}
	if err := c.to.Policies.DeleteAgent(ctx, tenantID, first.ID); err != nil {
		return false, err
	}
	return false, problemf("agent %s: the target used this id up to version %d already, so version %d cannot keep its number; not copied", first.ID, got-1, first.Version)
}

// savePolicy stores the source's version `from` of the agent as the
// target's version `as` (0: create), and returns the version it got.
func (c *StoreCopy) savePolicy(ctx context.Context, tenantID, agentID string, from, as int64) (int64, error) {
	p, err := c.from.History.GetPolicyVersion(ctx, tenantID, agentID, from)
	if err != nil {
		return 0, err
	}
	p.Agent.Version = as
	err = c.to.Policies.SavePolicy(ctx, tenantID, p)
	return p.Agent.Version, err
}

// sameAs tells whether the target's policy cur is the source's version
// v (either number): the same content, saved at the same time (to the
// millisecond, the coarsest a store keeps).
func (c *StoreCopy) sameAs(ctx context.Context, tenantID string, cur *domain.Policy, v int64) (bool, error) {
	src, err := c.from.History.GetPolicyVersion(ctx, tenantID, cur.Agent.ID, v)
	if err != nil {
		return false, err
	}
	a, b := *src, *cur
	for _, agent := range []*domain.Agent{&a.Agent, &b.Agent} {
		agent.Version, agent.TenantID = 0, ""
		agent.CreatedAt, agent.UpdatedAt = agent.CreatedAt.Truncate(time.Millisecond).UTC(), agent.UpdatedAt.Truncate(time.Millisecond).UTC()
	}
	x, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	y, err := json.Marshal(b)
	return err == nil && bytes.Equal(x, y), err
}
