package sqlkit

import (
	"slices"

	"focal/domain"
	"focal/ports"
)

// Row is one result row as both drivers hand it out: pgx.Row, pgx.Rows,
// *sql.Row and *sql.Rows all are.
type Row interface{ Scan(dest ...any) error }

// Rows is a query's result as both drivers hand it out: pgx.Rows and
// *sql.Rows are. The caller closes it.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// Collect reads every row of rows with scan; an empty result is an empty
// list, not nil. Scan and iteration errors come back as they are, for the
// store to map.
func Collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	out := []T{}
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// ReadPage reads a page from rows queried for one more than limit: scan
// reads an item and the cursor after it, and the page's next cursor is
// the limit-th item's when a further row exists.
func ReadPage[T any](rows Rows, limit int, scan func(Row) (T, string, error)) (ports.Page[T], error) {
	page := ports.Page[T]{Items: []T{}}
	var last string
	for rows.Next() {
		if len(page.Items) == limit {
			page.NextCursor = last
			break
		}
		x, cursor, err := scan(rows)
		if err != nil {
			return ports.Page[T]{}, err
		}
		page.Items = append(page.Items, x)
		last = cursor
	}
	if err := rows.Err(); err != nil {
		return ports.Page[T]{}, err
	}
	return page, nil
}

// SessionColumns are the columns ScanSession reads, in its order.
const SessionColumns = `id, tenant_id, status, turn_count, version, closed_ns, state`

// ScanSession reads a row selected with SessionColumns, then extra.
func ScanSession(row Row, extra ...any) (SessionRow, error) {
	var r SessionRow
	var state string
	err := row.Scan(append([]any{&r.ID, &r.TenantID, &r.Status, &r.TurnCount, &r.Version, &r.ClosedNS, &state}, extra...)...)
	r.State = []byte(state)
	return r, err
}

// TurnColumns are the columns ScanTurn reads, in its order.
const TurnColumns = `record, session_after, after_status, after_version, after_closed_ns`

// ScanTurn reads and decodes a turn selected with TurnColumns.
func ScanTurn(row Row) (domain.Turn, error) {
	var record, after string
	var stored StoredAfter
	if err := row.Scan(&record, &after, &stored.Status, &stored.Version, &stored.ClosedNS); err != nil {
		return domain.Turn{}, err
	}
	return DecodeTurn([]byte(record), []byte(after), stored)
}

// TurnPage is where a page of the tenant's session's turns starts: after
// turn after in the order asked, turns ascending unless desc. A first page
// of a descending listing starts above every turn.
func TurnPage(tenantID, sessionID string, q ports.TurnQuery) (after int, desc bool, err error) {
	n, hasCursor, err := ports.TurnCursors.After(q.Page.Cursor, tenantID, sessionID)
	if err != nil {
		return 0, false, err
	}
	desc = q.Order == ports.OrderDesc
	if desc && !hasCursor {
		n = 1 << 30
	}
	return int(n), desc, nil
}

// TurnItem reads the tenant's session's turns of a listing with the
// cursor after each.
func TurnItem(tenantID, sessionID string) func(Row) (domain.Turn, string, error) {
	return func(row Row) (domain.Turn, string, error) {
		t, err := ScanTurn(row)
		return t, ports.TurnCursors.Cursor(tenantID, sessionID, int64(t.TurnNumber)), err
	}
}

// SessionItem reads the tenant's sessions of a listing (SessionColumns,
// then created_ns) with the cursor after each.
func SessionItem(tenantID string) func(Row) (domain.Session, string, error) {
	return func(row Row) (domain.Session, string, error) {
		var created int64
		r, err := ScanSession(row, &created)
		if err != nil {
			return domain.Session{}, "", err
		}
		s, err := r.Session()
		if err != nil {
			return domain.Session{}, "", err
		}
		return *s, ports.SessionCursor(tenantID, created, r.ID), nil
	}
}

// Committed puts on s, the session after a committed turn, what the commit
// left in its row: the version, the status and the close time, which
// moves updated_at as a turn read back shows it (overlay).
func Committed(s *domain.Session, version int64, status string, closedNS int64) {
	overlay(s, status, version, closedNS)
}

// HistoryOf decodes history entries read newest first into a list oldest
// first.
func HistoryOf(newestFirst []string) ([]domain.HistoryEntry, error) {
	out := make([]domain.HistoryEntry, 0, len(newestFirst))
	for _, t := range slices.Backward(newestFirst) {
		h, err := DecodeHistoryEntry([]byte(t))
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ScanText reads a row of one text column.
func ScanText(row Row) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}
