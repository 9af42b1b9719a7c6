// Package memory implements every Focal store in process memory: the
// embedded default for development, tests and single-instance use. State is
// lost on restart and not shared between instances. Retention bounds what
// it keeps (see Retention and Sweep), so a long-running process holds
// steady memory.
package memory

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"focal/domain"
	"focal/ports"
)

// Store holds policies, sessions, turns, session leases and idempotency
// records. One mutex guards all of it: every operation is a few map
// look-ups, so contention costs less than finer locks would.
//
// What it keeps never changes once stored, so the turn path copies nothing
// deep: sessions are copy-on-write snapshots (domain.Session.Clone), and
// the prompt's view of each turn is a substring or two of what the turn
// keeps. A kept turn is compact and pointer-free (see storedTurn): only the
// rare audit reads decode it. A session idle for a while is kept encoded
// too (see pack).
type Store struct {
	clock     ports.Clock
	retention Retention

	mu       sync.Mutex
	policies map[string]*domain.Policy // tenant/agent → current version
	// versions holds every version of each agent's current life, oldest
	// first; the newest is the one in policies.
	versions map[string][]*domain.Policy
	// deleted holds the deletion marker of a deleted agent: the version
	// number its delete took, so numbering continues after it.
	deleted  map[string]int64
	sessions map[string]*sessionEntry
	// active maps a channel identity to its active session, which is in
	// sessions: a returning user's lease by key finds its entry in one
	// look-up.
	active   map[activeKey]*sessionEntry
	turnByID map[string]*storedTurn
	leases   map[string]*sessionLease
	fences   int64                  // last lease fence handed out
	idem     map[string]*keptRecord // by idemKey
	// answered holds, per tenant and keyed request, the completed turn
	// that answered it, while that turn is kept.
	answered map[string]string
	// used queues sessions for pack (see idle.go).
	used idleQueue
	// recentNames speeds finding a channel identity's session.
	recentNames recentNames
	// cold keeps the packed sessions, out of sessions, active, turnByID
	// and answered (see idle.go). hotPeak is the most sessions held in
	// sessions since those maps were last made anew (see shrinkHot).
	cold    coldStore
	hotPeak int
	// idle is the idle worker while one runs (see StartIdleWork).
	idle *IdleWorker
	// coldOff keeps packed sessions where they are, as before coldStore:
	// tests read a store with it set as the reference for one without.
	coldOff bool
}

var (
	_ ports.PolicyStore   = (*Store)(nil)
	_ ports.SessionStore  = (*Store)(nil)
	_ ports.TurnStore     = (*Store)(nil)
	_ ports.SessionLocker = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithRetention bounds what the store keeps; without it nothing is
// dropped.
func WithRetention(r Retention) Option { return func(s *Store) { s.retention = r } }

var _ ports.ReadinessChecker = (*Store)(nil)

// Ready implements ports.ReadinessChecker: memory is always there.
func (s *Store) Ready(context.Context) error { return nil }

// New returns an empty store.
func New(clock ports.Clock, opts ...Option) *Store {
	s := &Store{
		clock:    clock,
		policies: map[string]*domain.Policy{},
		versions: map[string][]*domain.Policy{},
		deleted:  map[string]int64{},
		sessions: map[string]*sessionEntry{},
		active:   map[activeKey]*sessionEntry{},
		turnByID: map[string]*storedTurn{},
		leases:   map[string]*sessionLease{},
		idem:     map[string]*keptRecord{},
		answered: map[string]string{},
		cold:     coldStore{cur: -1},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func policyKey(tenantID, agentID string) string { return tenantID + "/" + agentID }

// GetPolicy implements ports.PolicyStore. It returns a deep copy; policy
// reads are rare (the application caches policies by version).
func (s *Store) GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	s.mu.Lock()
	p, ok := s.policies[policyKey(tenantID, agentID)]
	s.mu.Unlock()
	if !ok {
		return nil, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	// Stored policies are never modified, only replaced: copying outside
	// the lock is safe.
	cp, err := clonePolicy(p)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored policy cannot be read")
	}
	return cp, nil
}

// AgentVersion implements ports.PolicyStore.
func (s *Store) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[policyKey(tenantID, agentID)]
	if !ok {
		return 0, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	return p.Agent.Version, nil
}

// SavePolicy implements ports.PolicyStore. It stores a deep copy, so the
// caller's value never aliases the stored one. Version 0 creates the agent
// after whatever deletion marker its id has.
func (s *Store) SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	cp, err := clonePolicy(p)
	if err != nil {
		return domain.WrapError(domain.CodeInternal, err, "policy cannot be stored")
	}
	cp.Agent.TenantID = tenantID
	s.mu.Lock()
	defer s.mu.Unlock()
	key := policyKey(tenantID, p.Agent.ID)
	current, live := s.deleted[key], false
	if old, ok := s.policies[key]; ok {
		current, live = old.Agent.Version, true
	}
	want := p.Agent.Version
	if want == 0 && !live {
		want = current + 1 // create: the number after the marker, or 1
	}
	if want != current+1 {
		return domain.Errorf(domain.CodeVersionConflict, "agent %s is at version %d; expected to write version %d", p.Agent.ID, current, current+1)
	}
	cp.Agent.Version = want
	if p.Agent.Version == 0 {
		p.Agent.Version = want // the caller learns the number it got
	}
	s.policies[key] = cp
	s.versions[key] = append(s.versions[key], cp)
	delete(s.deleted, key)
	return nil
}

// ListAgents implements ports.PolicyStore.
func (s *Store) ListAgents(ctx context.Context, tenantID string, page ports.PageRequest) (ports.Page[domain.Agent], error) {
	if err := ctx.Err(); err != nil {
		return ports.Page[domain.Agent]{}, unavailable(err)
	}
	after, err := ports.AgentCursors.After(page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Agent]{}, err
	}
	s.mu.Lock()
	var agents []domain.Agent
	for _, p := range s.policies {
		if p.Agent.TenantID == tenantID && p.Agent.ID > after {
			agents = append(agents, p.Agent)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(agents, func(a, b domain.Agent) int { return strings.Compare(a.ID, b.ID) })
	out := paginate(agents, page.Limit, func(a domain.Agent) string { return ports.AgentCursors.Cursor(tenantID, a.ID) })
	// Settings hold pointers into the stored policies: hand out copies.
	for i := range out.Items {
		if out.Items[i], err = cloneJSON(out.Items[i]); err != nil {
			return ports.Page[domain.Agent]{}, domain.WrapError(domain.CodeInternal, err, "a stored agent cannot be read")
		}
	}
	return out, nil
}

// DeleteAgent implements ports.PolicyStore: the policy goes, a marker at
// the next version number stays.
func (s *Store) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := policyKey(tenantID, agentID)
	p, ok := s.policies[key]
	if !ok {
		return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	delete(s.policies, key)
	delete(s.versions, key)
	s.deleted[key] = p.Agent.Version + 1
	return nil
}

func clonePolicy(p *domain.Policy) (*domain.Policy, error) {
	cp, err := cloneJSON(*p)
	return &cp, err
}

// cloneJSON deep-copies v through its JSON form, which every stored type
// has, so a field added later is copied too. For values read rarely.
func cloneJSON[T any](v T) (T, error) {
	var cp T
	b, err := json.Marshal(v)
	if err != nil {
		return cp, err
	}
	return cp, json.Unmarshal(b, &cp)
}

// paginate cuts one page from items already sorted and filtered past the
// cursor; the cursor of the next page is the last item's.
func paginate[T any](items []T, limit int, cursor func(T) string) ports.Page[T] {
	n := ports.PageLimit(limit)
	page := ports.Page[T]{Items: items}
	if len(items) > n {
		page.Items = items[:n]
		page.NextCursor = cursor(items[n-1])
	}
	if page.Items == nil {
		page.Items = []T{}
	}
	return page
}

// unavailable reports a call whose context ended before it could run.
func unavailable(err error) error {
	return domain.WrapError(domain.CodeStoreUnavailable, err, "the store did not answer in time")
}
