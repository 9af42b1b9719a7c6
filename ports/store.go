package ports

import (
	"context"
	"time"

	"focal/domain"
)

// Every store method honours ctx's deadline and returns STORE_UNAVAILABLE
// when its backend cannot be reached in time. Every method is scoped by
// tenant: a record of another tenant behaves exactly like a missing one.
// Implementations are safe for concurrent use.
//
// Stores keep their own copies of what they are given and return copies: a
// caller may change a value after passing it in, or a value it got back,
// without changing what is stored; except a turn given to
// TurnStore.CommitTurn, which the store takes over. A domain.Session is
// copy-on-write (see Session.Clone), so a store may hand out and keep
// clones that share maps: sessions, including a turn's SessionAfter, are
// changed only through their methods.

// PageRequest asks for one page of a listing.
type PageRequest struct {
	// Limit is the page size; stores clamp it to 1..MaxPageSize, 0 means DefaultPageSize.
	Limit int
	// Cursor is the NextCursor of the previous page, or "" for the first page.
	Cursor string
}

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageLimit clamps a requested page size.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// Page is one page of a listing. NextCursor is "" on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// PolicyStore keeps agents and their policies. A policy is stored whole, one
// version at a time, so a reader never sees half of a change.
//
// Version numbers of an agent id are never reused, not even after the agent
// was deleted and created again: caches keyed by (agent, version) rely on it.
// A deleted agent leaves a deletion marker that holds its place in the
// numbering; the marker itself takes a version number (the one after the
// last policy), so a delete and a save of the same next version race for
// one number and exactly one of them wins.
type PolicyStore interface {
	// GetPolicy returns the agent's current policy. AGENT_NOT_FOUND when
	// the agent does not exist for tenantID or was deleted (disabled agents
	// are returned).
	GetPolicy(ctx context.Context, tenantID, agentID string) (*domain.Policy, error)
	// AgentVersion returns the agent's current version, cheaper than
	// GetPolicy. AGENT_NOT_FOUND as GetPolicy.
	AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error)
	// SavePolicy stores p as the agent's next version.
	//
	// p.Agent.Version == 0 creates the agent: it must not exist now (else
	// VERSION_CONFLICT); the store takes the next number after whatever
	// the id held before (1 for an id never used, the deletion marker's
	// version plus one for a deleted agent) and sets p.Agent.Version to it.
	//
	// p.Agent.Version > 0 must be exactly the stored version plus one,
	// counting a deletion marker as stored, else VERSION_CONFLICT (a stale
	// update, a gap, a negative number).
	//
	// Of concurrent savers of one version exactly one wins; the others,
	// and a save racing a DeleteAgent that took the number first, get
	// VERSION_CONFLICT.
	SavePolicy(ctx context.Context, tenantID string, p *domain.Policy) error
	// ListAgents lists the tenant's agents (current versions) by id,
	// ascending byte-wise, whatever a backend's text collation; deleted
	// agents are not listed.
	ListAgents(ctx context.Context, tenantID string, page PageRequest) (Page[domain.Agent], error)
	// DeleteAgent removes the agent and all its policies, leaving the
	// deletion marker (version = current + 1). AGENT_NOT_FOUND when the
	// agent does not exist or is already deleted; VERSION_CONFLICT when a
	// concurrent save took the marker's version first (nothing deleted).
	DeleteAgent(ctx context.Context, tenantID, agentID string) error
}

// SessionQuery filters a session listing.
type SessionQuery struct {
	AgentID string
	Status  domain.SessionStatus
	Page    PageRequest
}

// SessionStore keeps sessions. The state a session has after a turn is
// written by TurnStore.CommitTurn; SessionStore reads reflect every
// committed turn. Sessions are created by SessionLocker.LockSession, which
// resolves a channel identity to its active session under the lease.
//
// A store may bound what it keeps (the memory store's retention; the
// others keep sessions and turns until deleted): it may evict a session
// with its turns once nothing has used or changed it for a set while (a
// close is a change, at the time it was given), never one whose lease is
// held or awaited; and it may drop a session's oldest turns, its turn
// count and numbering going on, a lease already granted keeping its
// history. An evicted session is then SESSION_NOT_FOUND, a dropped turn
// TURN_NOT_FOUND.
type SessionStore interface {
	// GetSession returns a session, reflecting every committed turn.
	// SESSION_NOT_FOUND.
	GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error)
	// ListSessions lists the tenant's sessions, newest first.
	ListSessions(ctx context.Context, tenantID string, q SessionQuery) (Page[domain.Session], error)
	// CloseSession marks the session closed at `at` and frees its channel
	// key for a new session; closing a closed session is a no-op.
	// Returns the closed session. SESSION_NOT_FOUND.
	CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error)
	// DeleteSession removes the session and all its turns. A turn in flight
	// either commits first (and is removed with the rest) or is refused.
	// SESSION_NOT_FOUND.
	DeleteSession(ctx context.Context, tenantID, sessionID string) error
}

// TurnOrder orders a turn listing by turn number.
type TurnOrder string

// Turn orders.
const (
	OrderAsc  TurnOrder = "asc"
	OrderDesc TurnOrder = "desc"
)

// TurnQuery pages through a session's turns.
type TurnQuery struct {
	Order TurnOrder
	Page  PageRequest
}

// LeaseToken identifies a held session lease for fencing: the holder
// presents it when committing the one turn the lease was granted for.
type LeaseToken struct {
	SessionID string
	// TurnNumber is the turn the lease may commit: the session's TurnCount+1
	// when the lease was granted.
	TurnNumber int
	// Fence never repeats, for any session, across every instance and
	// restart. A token with Fence 0 is no lease at all.
	Fence int64
}

// AnsweredError is CommitTurn's refusal of a second completed turn for one
// keyed request: TurnID is the completed turn that answered it.
type AnsweredError struct{ TurnID string }

func (e *AnsweredError) Error() string {
	return "the keyed request was answered by turn " + e.TurnID
}

// TurnStore keeps turn records, the commit point of every turn.
type TurnStore interface {
	// CommitTurn stores turn under (turn.SessionID, turn.TurnNumber) and
	// makes turn.SessionAfter the session's state. It commits only the
	// turn lease was granted for: turn.SessionID and turn.TurnNumber must
	// be lease's, and lease must still be the session's lease for that
	// number (not expired and taken over); otherwise SESSION_BUSY and
	// nothing is stored. Of concurrent commits of one number exactly one
	// succeeds. Committing ends the lease's right to commit: one lease,
	// one turn.
	//
	// The store takes turn over, SessionAfter included (whose Version and
	// Status it may set to what it stored): the caller may read it
	// afterwards but must not change it, so a store may keep it instead of
	// copying it.
	//
	// A commit is idempotent by turn id: when a turn with turn.ID is
	// already stored for the session and number (an earlier attempt whose
	// answer was lost landed), CommitTurn succeeds without storing
	// anything. So a caller that got STORE_UNAVAILABLE may retry, or read
	// the turn back, and never commits one message twice. A turn id names
	// one turn in the whole store: an id another turn holds (of another
	// session or number, or another tenant's) is SESSION_BUSY, storing
	// nothing and leaving the lease to commit a turn with an id of its own.
	//
	// At most one completed turn answers a keyed request: a completed
	// turn whose KeyedRequest another completed turn of the tenant already
	// carries is refused, storing nothing, with an *AnsweredError naming
	// that turn (whatever their sessions and numbers). Failed and
	// interrupted turns neither hold nor meet a keyed request. So a retry
	// that runs again, because it took over a claim whose first run could
	// not be confirmed, cannot record the message a second time.
	//
	// SESSION_NOT_FOUND when the session does not exist; INVALID_REQUEST
	// when turn has no id, no SessionAfter or a TurnNumber below 1, or
	// lease has no fence.
	CommitTurn(ctx context.Context, lease LeaseToken, turn *domain.Turn) error
	// GetTurn returns a turn by id. Its SessionAfter, as ListTurns', is
	// the session as the commit stored it: its Version and Status those
	// CommitTurn set, a close that landed while the turn ran included.
	// TURN_NOT_FOUND.
	GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error)
	// ListTurns pages through a session's turns in q.Order by turn number.
	// SESSION_NOT_FOUND when the session does not exist; INVALID_REQUEST
	// for a cursor that is not a TurnCursors cursor of this session.
	ListTurns(ctx context.Context, tenantID, sessionID string, q TurnQuery) (Page[domain.Turn], error)
	// RecentHistory returns what a prompt needs of the session's newest n
	// turns, oldest first; cost does not grow with the session's length
	// or with the size of the turn records. A missing session, and n <= 0,
	// give an empty (non-nil) list, not an error: the caller has just read
	// the session, and a store saves a round trip by not checking again.
	RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error)
}

// LockRequest names the session whose lease is wanted.
type LockRequest struct {
	TenantID string
	// SessionID names the session. When it is empty, the channel key
	// (ChannelKey) names it: the key's active session, or, when the key
	// has none, the new session NewSession makes, stored as the key's
	// active session.
	SessionID string
	// Candidate is that new session, built by the caller. Without it, Key
	// names the session and NewSession builds the new one of Key, opened
	// at Opened, with an id from NewID, only when a store creates it: a
	// returning user's turn then builds no session (nor its id) it never
	// stores. PostgreSQL's store differs: its one find-or-create statement
	// needs the new session up front, so it builds one every lock by key
	// and stores it only when it creates the session.
	Candidate *domain.Session
	Key       domain.ChannelKey
	Opened    time.Time
	NewID     func() (string, error)
	// History is how many of the session's newest turns the lease carries,
	// as history entries (0: none).
	History int
	// Wait bounds the wait for a busy session.
	Wait time.Duration
	// TTL is how long the lease lasts unless renewed (SessionLease.Renew):
	// how soon after its holder died the next caller takes it over.
	TTL time.Duration
}

// ChannelKey is the channel key that names the session when SessionID is
// empty: Candidate's, or Key without a candidate.
func (r *LockRequest) ChannelKey() domain.ChannelKey {
	if r.Candidate != nil {
		return r.Candidate.Key()
	}
	return r.Key
}

// NamesSession reports whether r names a session as SessionLocker asks:
// with a tenant, and a session id or a channel key of the tenant with a
// way to make its new session (a candidate with an id, or NewID).
func (r *LockRequest) NamesSession() bool {
	switch c := r.Candidate; {
	case r.TenantID == "":
		return false
	case r.SessionID != "":
		return true
	case c != nil:
		return c.ID != "" && c.TenantID == r.TenantID
	default:
		return r.NewID != nil && r.Key.TenantID == r.TenantID
	}
}

// NewSession is the session a store creates for the channel key when the
// key has none: Candidate, or else a new session of Key opened at Opened
// with an id from NewID (each call a new one; a store calls it once per
// session it creates, PostgreSQL's once per lock by key). INVALID_REQUEST
// when NewID gives no id, INTERNAL_ERROR when it fails.
func (r *LockRequest) NewSession() (*domain.Session, error) {
	if r.Candidate != nil {
		return r.Candidate, nil
	}
	if r.NewID == nil {
		return nil, domain.InvalidFields(domain.FieldError{Field: "session", Message: "a session id or a candidate is required"})
	}
	id, err := r.NewID()
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "cannot allocate a session id")
	}
	if id == "" {
		return nil, domain.InvalidFields(domain.FieldError{Field: "session", Message: "the new session has no id"})
	}
	return domain.NewSession(id, r.Key, r.Opened), nil
}

// SessionLocker serializes the turns of one session across every instance.
type SessionLocker interface {
	// LockSession waits until the caller holds the lease of the session
	// req names, first come first served as far as the backend allows,
	// for at most req.Wait, and returns it with the session as it stands
	// under the lease. The lease lasts req.TTL unless renewed, released or
	// used by a commit; an expired lease is taken over by the next caller
	// (within the wait: a caller waiting for a busy session takes it over
	// once it expires) and its holder's commit is refused.
	//
	// By channel key, of concurrent callers exactly one creates the
	// session; every caller gets the same session, one after another. A
	// session the key names is active when found; it may have been closed
	// by the time the lease is granted (Session().Status says so).
	//
	// SESSION_BUSY (with RetryAfter) when req.Wait elapses;
	// SESSION_NOT_FOUND when req.SessionID does not exist (or was
	// deleted, or is another tenant's); INVALID_REQUEST when req does not
	// name a session (NamesSession), or its new session, needed, has no
	// id; STORE_UNAVAILABLE.
	LockSession(ctx context.Context, req LockRequest) (SessionLease, error)
}

// SessionLease is a held session lease: the right to commit the session's
// next turn.
type SessionLease interface {
	// Token is presented to CommitTurn.
	Token() LeaseToken
	// Session is the session as it stood when the lease was granted, every
	// committed turn applied: its TurnCount is Token().TurnNumber-1. Each
	// call returns a copy.
	Session() *domain.Session
	// History is what a prompt needs of up to LockRequest.History of the
	// session's newest turns, oldest first, as of the grant (the entries
	// RecentHistory would give). Each call returns a new slice.
	History() []domain.HistoryEntry
	// Created reports whether this lease's LockSession stored the
	// candidate as a new session.
	Created() bool
	// Release gives the lease up so the next caller need not wait for its
	// expiry. Releasing twice, after expiry, or after the lease's turn was
	// committed is a no-op, and never frees another holder's lease.
	Release(ctx context.Context) error
	// Renew makes the lease last LockRequest.TTL from now again, its token
	// unchanged: a holder renews while its turn runs, so a short TTL is
	// lost only by a holder that stopped (it died, or lost the store).
	// SESSION_BUSY, changing nothing, when the lease was released or taken
	// over; after its turn was committed it may succeed or be SESSION_BUSY
	// (the lease is spent either way). STORE_UNAVAILABLE.
	Renew(ctx context.Context) error
}

// Clock tells the time and waits for it; tests substitute it, so that
// what runs on a timer (lease and claim renewals) waits on a fake clock.
// Safe for concurrent use.
type Clock interface {
	Now() time.Time
	// After sends the time on the returned channel once d has passed by
	// this clock, as time.After does.
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f on a goroutine of its own once d has passed by
	// this clock, as time.AfterFunc does. Unlike After, nothing waits
	// meanwhile: a timer that fires rarely (a renewal every few seconds of
	// a turn that may run for minutes) costs no goroutine.
	AfterFunc(d time.Duration, f func()) Timer
}

// MachineClock is a Clock that may be the machine's own clock, whose
// readings are time.Now's: a caller that needs both (a deadline by
// time.Now, a record's time by the clock) then reads once for both, and
// times a step from one of its readings with time.Since, which reads the
// monotonic clock alone. A reading of time.Now took about 120 ns on the
// benchmark machines (kvm-clock), and a turn took over a dozen. A clock
// that does not implement it is read as usual.
type MachineClock interface {
	Clock
	// Machine is the clock that reads time.Now. A clock is the machine's
	// when that is itself (IsMachineClock): one that embeds the machine's
	// and tells the time its own way (a test's) is not.
	Machine() Clock
}

// IsMachineClock reports whether c is the machine's clock (MachineClock).
func IsMachineClock(c Clock) bool {
	m, ok := c.(MachineClock)
	// Values of two types compare false without a look at the values
	// (which would panic for a type that cannot be compared): one that
	// embeds the machine's clock is not its type.
	return ok && m.Machine() == c
}

// Timer is a call AfterFunc has scheduled.
type Timer interface {
	// Stop keeps the call from happening, if it has not started yet:
	// false when it has (or Stop was called before), as time.Timer.Stop.
	Stop() bool
	// Reset schedules the call again, d from now, as time.Timer.Reset:
	// a call that recurs (a renewal) re-arms one timer instead of
	// allocating a new one each time.
	Reset(d time.Duration) bool
}

// PolicyHistory keeps every saved version of an agent's policy readable,
// for audits and for replaying conversations against another version. A
// version is readable from the moment SavePolicy stored it until the agent
// is deleted; an agent created again after a deletion starts a new life,
// and only the versions of the current life are listed and readable.
type PolicyHistory interface {
	// ListPolicyVersions lists the agents as stored at each version of the
	// current life, newest first. AGENT_NOT_FOUND when the agent does not
	// exist for tenantID or is deleted; INVALID_REQUEST for a cursor that
	// is not a VersionCursors cursor of this agent.
	ListPolicyVersions(ctx context.Context, tenantID, agentID string, page PageRequest) (Page[domain.Agent], error)
	// GetPolicyVersion returns the policy as saved at version.
	// AGENT_NOT_FOUND as ListPolicyVersions; NOT_FOUND when the agent's
	// current life has no such version.
	GetPolicyVersion(ctx context.Context, tenantID, agentID string, version int64) (*domain.Policy, error)
}
