package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Turns implements ports.TurnStore on SQLite.
type Turns struct{ db *DB }

var _ ports.TurnStore = (*Turns)(nil)

// NewTurns returns the turn store of db.
func NewTurns(db *DB) *Turns { return &Turns{db: db} }

const (
	sqlMoveSession = `UPDATE sessions SET state = ?1, turn_count = ?2, version = version + 1, lease_fence = NULL, lease_expires_ns = NULL
WHERE id = ?3 AND tenant_id = ?4 AND lease_fence = ?5 AND turn_count = ?2 - 1
RETURNING version, status, closed_ns`
	sqlInsertTurn = `INSERT INTO turns (id, tenant_id, session_id, turn_number, created_ns, record, session_after, history, answers,
	after_status, after_version, after_closed_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlAnsweredBy    = `SELECT id FROM turns WHERE tenant_id = ? AND answers = ?`
	sqlRefusedCommit = `SELECT EXISTS (SELECT 1 FROM turns WHERE id = ?1 AND tenant_id = ?2 AND session_id = ?3 AND turn_number = ?4),
	EXISTS (SELECT 1 FROM sessions WHERE id = ?3 AND tenant_id = ?2)`
	sqlGetTurn       = `SELECT ` + sqlkit.TurnColumns + ` FROM turns WHERE id = ? AND tenant_id = ?`
	sqlSessionExists = `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ? AND tenant_id = ?)`
	sqlListTurnsAsc  = `SELECT ` + sqlkit.TurnColumns + ` FROM turns
WHERE session_id = ? AND tenant_id = ? AND turn_number > ? ORDER BY turn_number LIMIT ?`
	sqlListTurnsDesc = `SELECT ` + sqlkit.TurnColumns + ` FROM turns
WHERE session_id = ? AND tenant_id = ? AND turn_number < ? ORDER BY turn_number DESC LIMIT ?`
)

// errRefused reports a commit whose session row did not move on.
var errRefused = errors.New("the session did not move on")

// errAnswered reports a completed turn of a keyed request another
// completed turn answered.
var errAnswered = errors.New("the keyed request is answered")

// CommitTurn implements ports.TurnStore: one write transaction moves the
// session row on, where it still holds this lease's fence and the turn
// before this one (clearing the lease: one lease, one turn), and inserts
// the turn. A retry of a commit that landed finds its turn.
func (ts *Turns) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	if err := sqlkit.CheckCommit(lease, turn); err != nil {
		return err
	}
	row, err := sqlkit.EncodeTurn(turn)
	if err != nil {
		return err
	}
	db := ts.db
	if lease.SessionID != turn.SessionID || lease.TurnNumber != turn.TurnNumber {
		return db.refusedCommit(ctx, turn, "the lease is not this turn's")
	}
	var version, closedNS int64
	var status, answeredBy string
	answers := sqlkit.Answers(turn)
	err = db.write(ctx, "commit turn", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, sqlMoveSession, string(row.After), turn.TurnNumber, turn.SessionID, turn.TenantID, lease.Fence).
			Scan(&version, &status, &closedNS)
		if errors.Is(err, sql.ErrNoRows) {
			return errRefused
		}
		if err != nil {
			return err
		}
		// One writer at a time: the answer read here stands until commit.
		if answers != nil {
			err := tx.QueryRowContext(ctx, sqlAnsweredBy, turn.TenantID, answers).Scan(&answeredBy)
			if err == nil {
				return errAnswered
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, sqlInsertTurn, turn.ID, turn.TenantID, turn.SessionID, turn.TurnNumber, turn.CreatedAt.UnixNano(),
			string(row.Record), string(row.After), string(row.History), answers, status, version, closedNS)
		if duplicate(err) {
			return errRefused
		}
		return err
	})
	if errors.Is(err, errAnswered) {
		return &ports.AnsweredError{TurnID: answeredBy}
	}
	if errors.Is(err, errRefused) {
		return db.refusedCommit(ctx, turn, "the lease of this turn was taken over, or the turn is taken")
	}
	if err != nil {
		return err
	}
	sqlkit.Committed(turn.SessionAfter, version, status, closedNS)
	db.spent.Add(lease.Fence)
	db.waiters.Wake(sqlkit.LeaseKey(turn.TenantID, turn.SessionID))
	return nil
}

// refusedCommit explains a commit that moved nothing: success when its
// turn is stored already, SESSION_NOT_FOUND, or SESSION_BUSY.
func (db *DB) refusedCommit(ctx context.Context, turn *domain.Turn, why string) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var own, exists bool
	err := db.readers.QueryRowContext(ctx, sqlRefusedCommit, turn.ID, turn.TenantID, turn.SessionID, turn.TurnNumber).Scan(&own, &exists)
	if err != nil {
		return fail(err, "commit turn")
	}
	return sqlkit.RefusedCommit(turn, own, exists, why)
}

// GetTurn implements ports.TurnStore.
func (ts *Turns) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	ctx, cancel := ts.db.op(ctx)
	defer cancel()
	t, err := sqlkit.ScanTurn(ts.db.readers.QueryRowContext(ctx, sqlGetTurn, turnID, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sqlkit.TurnNotFound(turnID)
	}
	if err != nil {
		return nil, fail(err, "get turn")
	}
	return &t, nil
}

// ListTurns implements ports.TurnStore.
func (ts *Turns) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	after, desc, err := sqlkit.TurnPage(tenantID, sessionID, q)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	query := sqlListTurnsAsc
	if desc {
		query = sqlListTurnsDesc
	}
	limit := ports.PageLimit(q.Page.Limit)
	ctx, cancel := ts.db.op(ctx)
	defer cancel()
	var exists bool
	if err := ts.db.readers.QueryRowContext(ctx, sqlSessionExists, sessionID, tenantID).Scan(&exists); err != nil {
		return ports.Page[domain.Turn]{}, fail(err, "list turns")
	}
	if !exists {
		return ports.Page[domain.Turn]{}, sqlkit.SessionNotFound(sessionID)
	}
	rows, err := ts.db.readers.QueryContext(ctx, query, sessionID, tenantID, after, limit+1)
	if err != nil {
		return ports.Page[domain.Turn]{}, fail(err, "list turns")
	}
	defer rows.Close()
	page, err := sqlkit.ReadPage(rows, limit, sqlkit.TurnItem(tenantID, sessionID))
	return page, fail(err, "list turns")
}

// RecentHistory implements ports.TurnStore: one indexed read of the
// newest n turns' history entries.
func (ts *Turns) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	ctx, cancel := ts.db.op(ctx)
	defer cancel()
	h, err := readHistory(ctx, ts.db.readers, tenantID, sessionID, n)
	return h, fail(err, "read history")
}
