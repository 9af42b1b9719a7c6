package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"focal/adapters/sqlkit"
	"focal/domain"
	"focal/ports"
)

// Turns implements ports.TurnStore on PostgreSQL.
type Turns struct{ db *DB }

var _ ports.TurnStore = (*Turns)(nil)

// NewTurns returns the turn store of db.
func NewTurns(db *DB) *Turns { return &Turns{db: db} }

const (
	// One statement, one transaction: the session row moves on only where
	// it still holds this lease's fence and the turn before this one, and
	// the turn is inserted only when it did. $1 tenant, $2 session, $3
	// fence, $4 turn number, $5 session state, $6 turn id, $7 created at,
	// $8 record, $9 history entry, $10 the keyed request a completed turn
	// answers (turns_answers holds one per request).
	sqlCommit = `-- commit turn
WITH s AS (
	UPDATE sessions SET state = $5, turn_count = $4, version = version + 1, lease_fence = NULL, lease_expires = NULL
	WHERE id = $2 AND tenant_id = $1 AND lease_fence = $3 AND turn_count = $4 - 1
	RETURNING version, status, closed_ns),
t AS (
	INSERT INTO turns (id, tenant_id, session_id, turn_number, created_at, record, session_after, history, answers,
		after_status, after_version, after_closed_ns)
	SELECT $6, $1, $2, $4, $7, $8, $5, $9, $10, s.status, s.version, s.closed_ns FROM s
	RETURNING id)
SELECT s.version, s.status, s.closed_ns FROM s, t`

	// Why a commit found nothing to move on: its turn is stored already
	// (a retry after a lost answer), the session is gone, or another turn
	// or holder has the place.
	sqlRefusedCommit = `-- explain refused commit
SELECT EXISTS (SELECT 1 FROM turns WHERE id = $3 AND tenant_id = $1 AND session_id = $2 AND turn_number = $4),
	EXISTS (SELECT 1 FROM sessions WHERE id = $2 AND tenant_id = $1)`

	sqlAnsweredBy = `-- turn answering a keyed request
SELECT id FROM turns WHERE tenant_id = $1 AND answers = $2`

	sqlGetTurn = `-- get turn
SELECT ` + sqlkit.TurnColumns + ` FROM turns WHERE id = $2 AND tenant_id = $1`
	sqlSessionExists = `-- session exists
SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $2 AND tenant_id = $1)`
	sqlListTurnsAsc = `-- list turns
SELECT ` + sqlkit.TurnColumns + ` FROM turns
WHERE session_id = $2 AND tenant_id = $1 AND turn_number > $3 ORDER BY turn_number LIMIT $4`
	sqlListTurnsDesc = `-- list turns
SELECT ` + sqlkit.TurnColumns + ` FROM turns
WHERE session_id = $2 AND tenant_id = $1 AND turn_number < $3 ORDER BY turn_number DESC LIMIT $4`
)

// CommitTurn implements ports.TurnStore: one statement, which is the
// commit point. Of concurrent commits of one number one moves the session
// row on (the others find it moved); committing clears the lease, so a
// lease commits one turn. A retry of a commit that landed finds its turn:
// the landed commit cleared the fence, so the statement sent again after a
// lost connection moves nothing and the refusal reads the turn back.
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
	cctx, cancel := db.op(ctx)
	defer cancel()
	var version int64
	var status string
	var closedNS int64
	err = retryIdempotent(cctx, func() error {
		return db.pool.QueryRow(cctx, sqlCommit, turn.TenantID, turn.SessionID, lease.Fence, turn.TurnNumber,
			string(row.After), turn.ID, turn.CreatedAt, string(row.Record), string(row.History), sqlkit.Answers(turn)).
			Scan(&version, &status, &closedNS)
	})
	if violates(err, "turns_answers") {
		return db.answered(ctx, turn)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return db.refusedCommit(ctx, turn, "the lease of this turn was taken over, or the turn is taken")
	}
	if err != nil {
		if duplicate(err) {
			return db.refusedCommit(ctx, turn, "the turn's id or number is taken")
		}
		return fail(err, "commit turn")
	}
	sqlkit.Committed(turn.SessionAfter, version, status, closedNS)
	db.spent.Add(lease.Fence)
	db.waiters.Wake(sqlkit.LeaseKey(turn.TenantID, turn.SessionID))
	return nil
}

// answered is the refusal of a completed turn whose keyed request another
// completed turn answered, naming that turn.
func (db *DB) answered(ctx context.Context, turn *domain.Turn) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var id string
	err := retryIdempotent(ctx, func() error {
		return db.pool.QueryRow(ctx, sqlAnsweredBy, turn.TenantID, sqlkit.Answers(turn)).Scan(&id)
	})
	if err != nil {
		return fail(err, "commit turn")
	}
	return &ports.AnsweredError{TurnID: id}
}

// refusedCommit explains a commit that moved nothing: success when its
// turn is stored already, SESSION_NOT_FOUND, or SESSION_BUSY.
func (db *DB) refusedCommit(ctx context.Context, turn *domain.Turn, why string) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var own, exists bool
	err := retryIdempotent(ctx, func() error {
		return db.pool.QueryRow(ctx, sqlRefusedCommit, turn.TenantID, turn.SessionID, turn.ID, turn.TurnNumber).Scan(&own, &exists)
	})
	if err != nil {
		return fail(err, "commit turn")
	}
	return sqlkit.RefusedCommit(turn, own, exists, why)
}

// GetTurn implements ports.TurnStore: one statement.
func (ts *Turns) GetTurn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	ctx, cancel := ts.db.op(ctx)
	defer cancel()
	var t domain.Turn
	err := retryIdempotent(ctx, func() (err error) {
		t, err = sqlkit.ScanTurn(ts.db.pool.QueryRow(ctx, sqlGetTurn, tenantID, turnID))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlkit.TurnNotFound(turnID)
	}
	if err != nil {
		return nil, fail(err, "get turn")
	}
	return &t, nil
}

// ListTurns implements ports.TurnStore: the session checked, then one page.
func (ts *Turns) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (ports.Page[domain.Turn], error) {
	after, desc, err := sqlkit.TurnPage(tenantID, sessionID, q)
	if err != nil {
		return ports.Page[domain.Turn]{}, err
	}
	sql := sqlListTurnsAsc
	if desc {
		sql = sqlListTurnsDesc
	}
	limit := ports.PageLimit(q.Page.Limit)
	ctx, cancel := ts.db.op(ctx)
	defer cancel()
	var exists bool
	err = retryIdempotent(ctx, func() error {
		return ts.db.pool.QueryRow(ctx, sqlSessionExists, tenantID, sessionID).Scan(&exists)
	})
	if err != nil {
		return ports.Page[domain.Turn]{}, fail(err, "list turns")
	}
	if !exists {
		return ports.Page[domain.Turn]{}, sqlkit.SessionNotFound(sessionID)
	}
	page, err := readPage(ctx, ts.db, limit, sqlkit.TurnItem(tenantID, sessionID), sql, tenantID, sessionID, after, limit+1)
	return page, fail(err, "list turns")
}

// RecentHistory implements ports.TurnStore: one indexed statement reading
// only the history entries of the newest n turns.
func (ts *Turns) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) ([]domain.HistoryEntry, error) {
	if n <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	return ts.db.recentHistory(ctx, tenantID, sessionID, n)
}
