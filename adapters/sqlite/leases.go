package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Session leases live on the session's row: lease_fence, from the
// lease_fences counter (never repeated), held until lease_expires_ns. A
// lease is taken in one write transaction that reads the row, takes the
// lease where it is free or expired, and reads the history: everything the
// lease carries is read under it. A commit clears the lease in the
// transaction that inserts its turn (turns.go), so a lease commits one
// turn; a release clears it only where it still holds this lease's fence.
// By channel key, the transaction also creates the session when the key
// has none: the insert claims the key's unique index.
//
// Expiry is judged by this process's clock: one file, one machine.
// Waiting: callers queue per session (sqlkit.Queue) and are woken by this
// process's releases and commits, first come, first served; another
// process sharing the file is noticed by polling.

// Leases implements ports.SessionLocker on SQLite.
type Leases struct{ db *DB }

var _ ports.SessionLocker = (*Leases)(nil)

// NewLeases returns the session locker of db.
func NewLeases(db *DB) *Leases { return &Leases{db: db} }

func leaseKey(tenantID, sessionID string) string { return tenantID + "/" + sessionID }

const (
	sqlLeaseRowByID  = `SELECT ` + sessionColumns + `, lease_fence, lease_expires_ns FROM sessions WHERE id = ? AND tenant_id = ?`
	sqlLeaseRowByKey = `SELECT ` + sessionColumns + `, lease_fence, lease_expires_ns FROM sessions
WHERE tenant_id = ? AND active_key = ?`
	sqlNextFence    = `UPDATE lease_fences SET last = last + 1 RETURNING last`
	sqlTakeLease    = `UPDATE sessions SET lease_fence = ?, lease_expires_ns = ? WHERE id = ?`
	sqlInsertLeased = `INSERT INTO sessions (id, tenant_id, agent_id, status, active_key, created_ns, version, state, lease_fence, lease_expires_ns)
VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)`
	sqlHistory = `SELECT history FROM turns WHERE session_id = ? AND tenant_id = ? ORDER BY turn_number DESC LIMIT ?`
	sqlRenew   = `UPDATE sessions SET lease_expires_ns = ? WHERE id = ? AND tenant_id = ? AND lease_fence = ?`
	sqlRelease = `UPDATE sessions SET lease_fence = NULL, lease_expires_ns = NULL WHERE id = ? AND tenant_id = ? AND lease_fence = ?`
)

// LockSession implements ports.SessionLocker.
func (ls *Leases) LockSession(ctx context.Context, req ports.LockRequest) (ports.SessionLease, error) {
	if err := sqlkit.CheckLock(req); err != nil {
		return nil, err
	}
	until := time.Now().Add(req.Wait)
	sessionID := req.SessionID
	if sessionID == "" {
		l, busyID, err := ls.byKey(ctx, req)
		if l != nil || err != nil {
			return l, err
		}
		sessionID = busyID
	}
	var held *lease
	err := ls.db.waiters.Wait(ctx, leaseKey(req.TenantID, sessionID), until, func(ctx context.Context) (bool, error) {
		l, err := ls.take(ctx, req, nil, nil, sqlLeaseRowByID, sessionID, req.TenantID)
		if err == nil && l == nil {
			return false, nil
		}
		if errors.Is(err, errNoSession) {
			err = sqlkit.SessionNotFound(sessionID)
		}
		held = l
		return true, err
	})
	switch {
	case errors.Is(err, sqlkit.ErrWaitOver):
		return nil, sqlkit.Busy("session %s is busy with another turn", sessionID)
	case err != nil && ctx.Err() != nil:
		return nil, domain.WrapError(domain.CodeStoreUnavailable, err, "the store did not answer in time")
	case err != nil:
		return nil, err
	}
	return held, nil
}

var errNoSession = errors.New("no such session")

// byKey takes the lease of the key's active session, creating it from the
// candidate when the key has none (in the same transaction, so of
// concurrent first messages one creates); or returns the id of the key's
// session when another holds its lease.
func (ls *Leases) byKey(ctx context.Context, req ports.LockRequest) (*lease, string, error) {
	keyID := sqlkit.ChannelKeyID(req.ChannelKey())
	var busyID string
	l, err := ls.take(ctx, req, func(tx *sql.Tx) (*lease, error) { return ls.create(ctx, tx, req, keyID) },
		func(id string) { busyID = id }, sqlLeaseRowByKey, req.TenantID, keyID)
	return l, busyID, err
}

// create inserts the request's new session as the key's session with the
// lease of its first turn.
func (ls *Leases) create(ctx context.Context, tx *sql.Tx, req ports.LockRequest, keyID string) (*lease, error) {
	c, err := req.NewSession()
	if err != nil {
		return nil, err
	}
	fresh := c.Clone()
	fresh.Status, fresh.ClosedAt, fresh.TurnCount = domain.SessionActive, nil, 0
	state, err := sqlkit.EncodeState(fresh)
	if err != nil {
		return nil, err
	}
	var fence int64
	if err := tx.QueryRowContext(ctx, sqlNextFence).Scan(&fence); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, sqlInsertLeased, c.ID, req.TenantID, c.AgentID, keyID, c.CreatedAt.UnixNano(), c.Version,
		string(state), fence, ls.db.clock.Now().Add(req.TTL).UnixNano())
	if err != nil {
		return nil, err
	}
	fresh.Freeze()
	return &lease{db: ls.db, tenantID: req.TenantID, created: true, ttl: req.TTL, session: fresh, history: []domain.HistoryEntry{},
		token: ports.LeaseToken{SessionID: c.ID, TurnNumber: 1, Fence: fence}}, nil
}

// take runs one write transaction: read the row the query names, take its
// lease when free or expired, read the history. When another holds the
// lease it returns nil and tells busy the session's id; when there is no
// such row, what missing makes (errNoSession without it).
func (ls *Leases) take(ctx context.Context, req ports.LockRequest, missing func(*sql.Tx) (*lease, error), busy func(string),
	query string, args ...any) (*lease, error) {
	var l *lease
	err := ls.db.write(ctx, "take session lease", func(tx *sql.Tx) error {
		var fence, expires sql.NullInt64
		r, err := scanSession(tx.QueryRowContext(ctx, query, args...), &fence, &expires)
		if errors.Is(err, sql.ErrNoRows) && missing != nil {
			l, err = missing(tx)
			return err
		}
		if errors.Is(err, sql.ErrNoRows) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		now := ls.db.clock.Now()
		if fence.Valid && expires.Int64 >= now.UnixNano() {
			if busy != nil {
				busy(r.ID)
			}
			return nil // held
		}
		var next int64
		if err := tx.QueryRowContext(ctx, sqlNextFence).Scan(&next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlTakeLease, next, now.Add(req.TTL).UnixNano(), r.ID); err != nil {
			return err
		}
		s, err := r.Session()
		if err != nil {
			return err
		}
		history, err := readHistory(ctx, tx, req.TenantID, r.ID, req.History)
		if err != nil {
			return err
		}
		l = &lease{db: ls.db, tenantID: req.TenantID, ttl: req.TTL, session: s, history: history,
			token: ports.LeaseToken{SessionID: r.ID, TurnNumber: r.TurnCount + 1, Fence: next}}
		return nil
	})
	if errors.Is(err, errNoSession) {
		return nil, errNoSession
	}
	return l, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readHistory reads the newest n entries of a session, oldest first.
func readHistory(ctx context.Context, q querier, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	if n <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	rows, err := q.QueryContext(ctx, sqlHistory, sessionID, tenantID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var texts []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		texts = append(texts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]domain.HistoryEntry, 0, len(texts))
	for _, t := range slices.Backward(texts) {
		h, err := sqlkit.DecodeHistoryEntry([]byte(t))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// lease is a held lease.
type lease struct {
	db       *DB
	tenantID string
	token    ports.LeaseToken
	session  *domain.Session
	history  []domain.HistoryEntry
	created  bool
	ttl      time.Duration

	mu       sync.Mutex
	released bool
}

// Token implements ports.SessionLease.
func (l *lease) Token() ports.LeaseToken { return l.token }

// Session implements ports.SessionLease.
func (l *lease) Session() *domain.Session { return l.session.Clone() }

// History implements ports.SessionLease.
func (l *lease) History() []domain.HistoryEntry { return slices.Clone(l.history) }

// Created implements ports.SessionLease.
func (l *lease) Created() bool { return l.created }

// Release implements ports.SessionLease: nothing to write when this
// process committed the lease's turn (the commit freed it); otherwise one
// update clearing the lease only while it holds this fence.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if l.db.spent.Take(l.token.Fence) {
		l.released = true
		return nil
	}
	err := l.db.write(ctx, "release session lease", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlRelease, l.token.SessionID, l.tenantID, l.token.Fence)
		return err
	})
	if err != nil {
		return err
	}
	l.released = true
	l.db.waiters.Wake(leaseKey(l.tenantID, l.token.SessionID))
	return nil
}

// Renew implements ports.SessionLease: one update that moves the expiry
// only while the row still holds this lease's fence.
func (l *lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return sqlkit.Busy("the lease of session %s was released", l.token.SessionID)
	}
	return l.db.write(ctx, "renew session lease", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlRenew, l.db.clock.Now().Add(l.ttl).UnixNano(), l.token.SessionID, l.tenantID, l.token.Fence)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, sqlkit.Busy("the lease of session %s was taken over or used", l.token.SessionID))
		}
		return nil
	})
}
