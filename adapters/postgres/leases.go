package postgres

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/jackc/pgx/v5"

	"focal/adapters/leasekit"
	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Session leases live on the session's row: lease_fence, a number from the
// lease_fences sequence (never repeated), held until lease_expires, which
// the server's clock writes and judges (now()). Taking the lease is one
// UPDATE that admits only a free or expired lease, and it returns the row
// as it stands under the new lease, with the history the caller asked for:
// the grant, the session and its newest turns in one statement. A commit
// clears the lease in the statement that inserts its turn (turns.go), so a
// lease commits one turn; a release clears it only where it still holds
// this lease's fence. The lease by channel key also creates the session
// when the key has none: the INSERT claims the key's unique index and
// takes the lease of turn 1 at once.
//
// Each LockSession call draws a holder nonce, which its takes write to
// lease_holder: a take sent again after its answer was lost (the first
// may have taken the lease, under a fence nobody knows) also admits the
// lease that nonce holds and takes it under a new fence, so the caller is
// granted the lease its lost take holds instead of waiting out its TTL.
// No other call knows the nonce, so one lease still has one holder.
//
// Waiting: callers of this process queue per session (sqlkit.Queue) and are
// woken by this process's releases and commits, so within one process the
// lease goes first come, first served; across processes the first in each
// line polls with a jittered backoff.

// Leases implements ports.SessionLocker on PostgreSQL.
type Leases struct{ db *DB }

var _ ports.SessionLocker = (*Leases)(nil)

// NewLeases returns the session locker of db.
func NewLeases(db *DB) *Leases { return &Leases{db: db} }

// historyOf is the history subquery of the lease statements: the newest $n
// turns' entries of session g, oldest first, as one JSON array.
const historyOf = `(SELECT '[' || string_agg(h.history, ',' ORDER BY h.turn_number) || ']' FROM (
	SELECT turn_number, history FROM turns WHERE session_id = g.id ORDER BY turn_number DESC LIMIT $4) h)`

const (
	// $1 tenant, $2 session, $3 TTL in microseconds, $4 history, $5 holder.
	sqlLeaseByID = `-- lease by id
WITH g AS (
	UPDATE sessions SET lease_fence = nextval('lease_fences'), lease_expires = now() + $3 * interval '1 microsecond', lease_holder = $5
	WHERE id = $2 AND tenant_id = $1 AND (lease_fence IS NULL OR lease_expires < now() OR lease_holder = $5)
	RETURNING id, tenant_id, status, turn_count, version, closed_ns, state, lease_fence)
SELECT g.*, ` + historyOf + ` FROM g
UNION ALL
SELECT id, tenant_id, status, turn_count, version, closed_ns, '', NULL, NULL FROM sessions
WHERE id = $2 AND tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM g)`

	// $1 tenant, $2 candidate id, $3 TTL, $4 history, $5 agent, $6 key,
	// $7 created_ns, $8 version, $9 state, $10 holder. A take sent again
	// that finds the session its lost take created (the candidate's id) is
	// told it created it.
	sqlLeaseByKey = `-- lease by key
WITH c AS (
	INSERT INTO sessions (id, tenant_id, agent_id, status, active_key, created_ns, version, state, lease_fence, lease_expires, lease_holder)
	VALUES ($2, $1, $5, 'active', $6, $7, $8, $9, nextval('lease_fences'), now() + $3 * interval '1 microsecond', $10)
	ON CONFLICT (tenant_id, active_key) DO NOTHING
	RETURNING id, tenant_id, status, turn_count, version, closed_ns, state, lease_fence),
g AS (
	UPDATE sessions SET lease_fence = nextval('lease_fences'), lease_expires = now() + $3 * interval '1 microsecond', lease_holder = $10
	WHERE tenant_id = $1 AND active_key = $6 AND (lease_fence IS NULL OR lease_expires < now() OR lease_holder = $10)
		AND NOT EXISTS (SELECT 1 FROM c)
	RETURNING id, tenant_id, status, turn_count, version, closed_ns, state, lease_fence)
SELECT c.*, '[]', true FROM c
UNION ALL
SELECT g.*, ` + historyOf + `, g.id = $2 FROM g
UNION ALL
SELECT id, tenant_id, status, turn_count, version, closed_ns, '', NULL, NULL, false FROM sessions
WHERE tenant_id = $1 AND active_key = $6 AND NOT EXISTS (SELECT 1 FROM c) AND NOT EXISTS (SELECT 1 FROM g)`

	sqlHistory = `-- read history
SELECT history FROM turns WHERE session_id = $2 AND tenant_id = $1 ORDER BY turn_number DESC LIMIT $3`

	// $3 fence, $4 TTL in microseconds.
	sqlRenew = `-- renew lease
UPDATE sessions SET lease_expires = now() + $4 * interval '1 microsecond' WHERE id = $2 AND tenant_id = $1 AND lease_fence = $3`

	sqlRelease = `-- release lease
UPDATE sessions SET lease_fence = NULL, lease_expires = NULL WHERE id = $2 AND tenant_id = $1 AND lease_fence = $3`
)

// leaseRow is what a lease statement returned.
type leaseRow struct {
	session sqlkit.SessionRow
	fence   *int64
	history *string
	created bool
}

func scanLease(rows pgx.Rows, byKey bool) (*leaseRow, error) {
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var r leaseRow
	extra := []any{&r.fence, &r.history}
	if byKey {
		extra = append(extra, &r.created)
	}
	var err error
	if r.session, err = sqlkit.ScanSession(rows, extra...); err != nil {
		return nil, err
	}
	rows.Close()
	return &r, rows.Err()
}

// LockSession implements ports.SessionLocker. A free lease costs one
// statement, by id or by channel key, a new session included.
func (ls *Leases) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	if err := sqlkit.CheckLock(req); err != nil {
		return nil, err
	}
	until := time.Now().Add(req.Wait)
	holder := rand.Text()
	sessionID := req.SessionID
	if sessionID == "" {
		l, busyID, err := ls.byKey(ctx, req, holder)
		if l != nil || err != nil {
			return l, err
		}
		sessionID = busyID
	}
	var held *lease
	err := ls.db.waiters.WaitLease(ctx, req.TenantID, sessionID, until, func(ctx context.Context) (bool, error) {
		l, err := ls.byID(ctx, req, sessionID, holder)
		held = l
		return l != nil, err
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// byKey takes the lease of the key's active session, creating it from the
// candidate when the key has none. It returns the lease, or the id of the
// key's session when another holds its lease.
func (ls *Leases) byKey(ctx context.Context, req ports.LockRequest, holder string) (*lease, string, error) {
	// One statement finds or creates the key's session: the new session
	// is built for every call.
	c, err := req.NewSession()
	if err != nil {
		return nil, "", err
	}
	fresh := c.Clone()
	fresh.Status, fresh.ClosedAt, fresh.TurnCount = domain.SessionActive, nil, 0
	state, err := sqlkit.EncodeState(fresh)
	if err != nil {
		return nil, "", err
	}
	keyID := sqlkit.ChannelKeyID(c.Key())
	// A key whose session was created by a statement that began after this
	// one's snapshot is invisible to it: the next statement sees it.
	for range 5 {
		r, err := ls.query(ctx, true, sqlLeaseByKey, req.TenantID, c.ID, req.TTL.Microseconds(), req.History,
			c.AgentID, keyID, c.CreatedAt.UnixNano(), c.Version, string(state), holder)
		if err != nil {
			return nil, "", err
		}
		switch {
		case r == nil:
			continue
		case r.fence == nil:
			return nil, r.session.ID, nil
		}
		l, err := ls.granted(ctx, req, r)
		return l, "", err
	}
	return nil, "", sqlkit.Busy("the session of this channel identity keeps changing; retry")
}

// byID tries once to take the lease of the session: nil when another holds it.
func (ls *Leases) byID(ctx context.Context, req ports.LockRequest, sessionID, holder string) (*lease, error) {
	r, err := ls.query(ctx, false, sqlLeaseByID, req.TenantID, sessionID, req.TTL.Microseconds(), req.History, holder)
	switch {
	case err != nil:
		return nil, err
	case r == nil:
		return nil, sqlkit.SessionNotFound(sessionID)
	case r.fence == nil:
		return nil, nil
	}
	return ls.granted(ctx, req, r)
}

// query sends a lease statement, again after a lost connection: a take
// whose answer was lost holds the lease under its holder nonce, which the
// take sent again admits and takes under a new fence (the lost one's
// fence reached nobody); one that never ran is taken now. A key's session
// is created once (its unique index), whichever take created it.
func (ls *Leases) query(ctx context.Context, byKey bool, sql string, args ...any) (*leaseRow, error) {
	ctx, cancel := ls.db.op(ctx)
	defer cancel()
	var r *leaseRow
	err := retryIdempotent(ctx, func() error {
		rows, err := ls.db.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		r, err = scanLease(rows, byKey)
		return err
	})
	if err != nil {
		return nil, fail(err, "take session lease")
	}
	return r, nil
}

// granted makes the held lease of a granted row. The history subquery
// reads the statement's snapshot, while the row is the newest version: a
// commit that landed between the two (the previous holder's, which freed
// the lease this statement took) is missing from the history, so then it
// is read again, under the lease now held.
func (ls *Leases) granted(ctx context.Context, req ports.LockRequest, r *leaseRow) (*lease, error) {
	token := ports.LeaseToken{SessionID: r.session.ID, TurnNumber: r.session.TurnCount + 1, Fence: *r.fence}
	s, err := r.session.Session()
	var history []domain.HistoryEntry
	if err == nil {
		history, err = ls.history(ctx, req, r)
	}
	l := &lease{db: ls.db, Held: sqlkit.Held{Grant: leasekit.NewGrant(token, s, history, r.created), TenantID: req.TenantID, TTL: req.TTL}}
	if err != nil {
		_ = l.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	return l, nil
}

func (ls *Leases) history(ctx context.Context, req ports.LockRequest, r *leaseRow) ([]domain.HistoryEntry, error) {
	if req.History <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	var list []byte
	if r.history != nil {
		list = []byte(*r.history)
	}
	h, err := sqlkit.DecodeHistory(list)
	if err != nil {
		return nil, err
	}
	want := min(req.History, r.session.TurnCount)
	if len(h) == want && (want == 0 || h[len(h)-1].TurnNumber == r.session.TurnCount) {
		return h, nil
	}
	return ls.db.recentHistory(ctx, req.TenantID, r.session.ID, req.History)
}

// recentHistory reads the newest n entries of a session, oldest first.
func (db *DB) recentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var texts []string
	err := retryIdempotent(ctx, func() error {
		rows, err := db.pool.Query(ctx, sqlHistory, tenantID, sessionID, n)
		if err != nil {
			return err
		}
		texts, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fail(err, "read history")
	}
	return sqlkit.HistoryOf(texts)
}

// lease is a held lease.
type lease struct {
	sqlkit.Held
	db *DB
}

// Release implements ports.SessionLease: nothing to send when this
// process committed the lease's turn (the commit freed it); otherwise one
// update that clears the lease only while it holds this fence (so sending
// it again changes nothing).
func (l *lease) Release(ctx context.Context) error {
	return l.ReleaseWith(&l.db.spent, l.db.waiters, func() error {
		ctx, cancel := l.db.op(ctx)
		defer cancel()
		token := l.Token()
		err := retryIdempotent(ctx, func() error {
			_, err := l.db.pool.Exec(ctx, sqlRelease, l.TenantID, token.SessionID, token.Fence)
			return err
		})
		return fail(err, "release session lease")
	})
}

// Renew implements ports.SessionLease: one update that moves the expiry
// (by the server's clock) only while the row still holds this fence: sent
// again, it moves the expiry to about the same place.
func (l *lease) Renew(ctx context.Context) error {
	return l.RenewWith(func() (bool, error) {
		ctx, cancel := l.db.op(ctx)
		defer cancel()
		token := l.Token()
		var affected int64
		err := retryIdempotent(ctx, func() error {
			tag, err := l.db.pool.Exec(ctx, sqlRenew, l.TenantID, token.SessionID, token.Fence, l.TTL.Microseconds())
			affected = tag.RowsAffected()
			return err
		})
		return affected > 0, fail(err, "renew session lease")
	})
}
