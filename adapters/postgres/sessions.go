package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Sessions implements ports.SessionStore on PostgreSQL. A session is one
// row holding its state after its newest turn, written by the same
// statement that inserts the turn (turns.go), so a read never sees a
// session behind its turns. A close writes only the status columns, which
// win over the state's copy, so a close during a turn survives it.
type Sessions struct{ db *DB }

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

const (
	sqlGetSession = `-- get session
SELECT ` + sqlkit.SessionColumns + ` FROM sessions WHERE id = $2 AND tenant_id = $1`
	sqlListSessions = `-- list sessions
SELECT ` + sqlkit.SessionColumns + `, created_ns FROM sessions
WHERE tenant_id = $1 AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR status = $3)
	AND (NOT $4 OR (created_ns, id) < ($5, $6))
ORDER BY created_ns DESC, id DESC LIMIT $7`
	sqlCloseSession = `-- close session
UPDATE sessions SET status = 'closed', active_key = NULL, closed_ns = $3, version = version + 1
WHERE id = $2 AND tenant_id = $1 AND status = 'active'`
	sqlDeleteSession = `-- delete session
DELETE FROM sessions WHERE id = $2 AND tenant_id = $1`
)

// GetSession implements ports.SessionStore: one statement.
func (ss *Sessions) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	ctx, cancel := ss.db.op(ctx)
	defer cancel()
	var r sqlkit.SessionRow
	err := retryIdempotent(ctx, func() (err error) {
		r, err = sqlkit.ScanSession(ss.db.pool.QueryRow(ctx, sqlGetSession, tenantID, sessionID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlkit.SessionNotFound(sessionID)
	}
	if err != nil {
		return nil, fail(err, "get session")
	}
	return r.Session()
}

// ListSessions implements ports.SessionStore: newest first by creation
// time, ties by id, from one index per filter.
func (ss *Sessions) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	ns, id, hasCursor, err := ports.SessionAfter(q.Page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	limit := ports.PageLimit(q.Page.Limit)
	ctx, cancel := ss.db.op(ctx)
	defer cancel()
	page, err := readPage(ctx, ss.db, limit, sqlkit.SessionItem(tenantID), sqlListSessions, tenantID, q.AgentID, string(q.Status), hasCursor, ns, id, limit+1)
	return page, fail(err, "list sessions")
}

// CloseSession implements ports.SessionStore: one update of the status
// columns (which frees the channel key), then the session read back. The
// update closes only an active session, so sent again it changes nothing.
func (ss *Sessions) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error) {
	cctx, cancel := ss.db.op(ctx)
	err := retryIdempotent(cctx, func() error {
		_, err := ss.db.pool.Exec(cctx, sqlCloseSession, tenantID, sessionID, at.UnixNano())
		return err
	})
	cancel()
	if err != nil {
		return nil, fail(err, "close session")
	}
	return ss.GetSession(ctx, tenantID, sessionID)
}

// DeleteSession implements ports.SessionStore: one delete (sent again
// after a lost connection, see deleteRow); the turns go
// with it (ON DELETE CASCADE). A commit in flight either locked the row
// first, and its turn is deleted with the rest, or finds no row and is
// refused; a waiter for the lease then finds no session.
func (ss *Sessions) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	deleted, err := ss.db.deleteRow(ctx, "delete session", sqlDeleteSession, tenantID, sessionID)
	if err != nil {
		return err
	}
	if !deleted {
		return sqlkit.SessionNotFound(sessionID)
	}
	ss.db.waiters.Wake(sqlkit.LeaseKey(tenantID, sessionID))
	return nil
}
