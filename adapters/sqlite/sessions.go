package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Sessions implements ports.SessionStore on SQLite: one row per session
// holding its state after its newest turn, written in the transaction
// that inserts the turn (turns.go). A close writes only the status
// columns, which win over the state's copy.
type Sessions struct{ db *DB }

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

const (
	sqlGetSession   = `SELECT ` + sqlkit.SessionColumns + ` FROM sessions WHERE id = ? AND tenant_id = ?`
	sqlListSessions = `SELECT ` + sqlkit.SessionColumns + `, created_ns FROM sessions
WHERE tenant_id = ?1 AND (?2 = '' OR agent_id = ?2) AND (?3 = '' OR status = ?3)
	AND (NOT ?4 OR (created_ns, id) < (?5, ?6))
ORDER BY created_ns DESC, id DESC LIMIT ?7`
	sqlCloseSession = `UPDATE sessions SET status = 'closed', active_key = NULL, closed_ns = ?, version = version + 1
WHERE id = ? AND tenant_id = ? AND status = 'active'`
	sqlDeleteSession = `DELETE FROM sessions WHERE id = ? AND tenant_id = ?`
)

// GetSession implements ports.SessionStore.
func (ss *Sessions) GetSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	ctx, cancel := ss.db.op(ctx)
	defer cancel()
	r, err := sqlkit.ScanSession(ss.db.readers.QueryRowContext(ctx, sqlGetSession, sessionID, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sqlkit.SessionNotFound(sessionID)
	}
	if err != nil {
		return nil, fail(err, "get session")
	}
	return r.Session()
}

// ListSessions implements ports.SessionStore: newest first, ties by id.
func (ss *Sessions) ListSessions(ctx context.Context, tenantID string, q ports.SessionQuery) (ports.Page[domain.Session], error) {
	ns, id, hasCursor, err := ports.SessionAfter(q.Page.Cursor, tenantID)
	if err != nil {
		return ports.Page[domain.Session]{}, err
	}
	limit := ports.PageLimit(q.Page.Limit)
	ctx, cancel := ss.db.op(ctx)
	defer cancel()
	rows, err := ss.db.readers.QueryContext(ctx, sqlListSessions, tenantID, q.AgentID, string(q.Status), hasCursor, ns, id, limit+1)
	if err != nil {
		return ports.Page[domain.Session]{}, fail(err, "list sessions")
	}
	defer rows.Close()
	page, err := sqlkit.ReadPage(rows, limit, sqlkit.SessionItem(tenantID))
	return page, fail(err, "list sessions")
}

// CloseSession implements ports.SessionStore.
func (ss *Sessions) CloseSession(ctx context.Context, tenantID, sessionID string, at time.Time) (*domain.Session, error) {
	err := ss.db.write(ctx, "close session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlCloseSession, at.UnixNano(), sessionID, tenantID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ss.GetSession(ctx, tenantID, sessionID)
}

// DeleteSession implements ports.SessionStore: one delete, the turns going
// with it (ON DELETE CASCADE). Writes are serialized, so a commit in
// flight lands before it (and is deleted) or after it (and is refused).
func (ss *Sessions) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	err := ss.db.write(ctx, "delete session", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlDeleteSession, sessionID, tenantID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = sqlkit.SessionNotFound(sessionID)
		}
		return err
	})
	if err == nil {
		ss.db.waiters.Wake(sqlkit.LeaseKey(tenantID, sessionID))
	}
	return err
}
