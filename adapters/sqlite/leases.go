package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"focal/adapters/leasekit"
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

const (
	sqlLeaseRowByID  = `SELECT ` + sqlkit.SessionColumns + `, lease_fence, lease_expires_ns FROM sessions WHERE id = ? AND tenant_id = ?`
	sqlLeaseRowByKey = `SELECT ` + sqlkit.SessionColumns + `, lease_fence, lease_expires_ns FROM sessions
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
	err := ls.db.waiters.WaitLease(ctx, req.TenantID, sessionID, until, func(ctx context.Context) (bool, error) {
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
	if err != nil {
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
	token := ports.LeaseToken{SessionID: c.ID, TurnNumber: 1, Fence: fence}
	return &lease{db: ls.db, Held: sqlkit.Held{Grant: leasekit.NewGrant(token, fresh, []domain.HistoryEntry{}, true),
		TenantID: req.TenantID, TTL: req.TTL}}, nil
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
		r, err := sqlkit.ScanSession(tx.QueryRowContext(ctx, query, args...), &fence, &expires)
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
		token := ports.LeaseToken{SessionID: r.ID, TurnNumber: r.TurnCount + 1, Fence: next}
		l = &lease{db: ls.db, Held: sqlkit.Held{Grant: leasekit.NewGrant(token, s, history, false), TenantID: req.TenantID, TTL: req.TTL}}
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
	texts, err := sqlkit.Collect(rows, sqlkit.ScanText)
	if err != nil {
		return nil, err
	}
	return sqlkit.HistoryOf(texts)
}

// lease is a held lease.
type lease struct {
	sqlkit.Held
	db *DB
}

// Release implements ports.SessionLease: nothing to write when this
// process committed the lease's turn (the commit freed it); otherwise one
// update clearing the lease only while it holds this fence.
func (l *lease) Release(ctx context.Context) error {
	return l.ReleaseWith(&l.db.spent, l.db.waiters, func() error {
		token := l.Token()
		return l.db.write(ctx, "release session lease", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, sqlRelease, token.SessionID, l.TenantID, token.Fence)
			return err
		})
	})
}

// Renew implements ports.SessionLease: one update that moves the expiry
// only while the row still holds this lease's fence.
func (l *lease) Renew(ctx context.Context) error {
	return l.RenewWith(func() (bool, error) {
		token := l.Token()
		var n int64
		err := l.db.write(ctx, "renew session lease", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, sqlRenew, l.db.clock.Now().Add(l.TTL).UnixNano(), token.SessionID, l.TenantID, token.Fence)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		return n > 0, err
	})
}
