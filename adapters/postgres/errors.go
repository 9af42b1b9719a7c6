package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"focal/domain"
)

// What a driver error means for the caller, in one place.
//
// An error is transient when the server could not be reached or answer in
// time, is shutting down or starting, is out of connections or resources,
// or cancelled the statement (statement_timeout, a lock timeout), or when
// the transaction lost a serialization conflict or a deadlock: the
// statement may or may not have been applied (a connection lost before
// the answer) or was rolled back and may be sent again. Those map to
// STORE_UNAVAILABLE, which is what makes the application read a commit
// back instead of reporting it failed. A unique violation the store did
// not expect and anything else the server answered is INTERNAL_ERROR;
// the expected ones (an insert-once key taken) are answered by the stores
// as the domain code they mean (VERSION_CONFLICT, SESSION_BUSY, ...)
// without reaching this function.

// transientClasses are SQLSTATE classes (their first two characters) of a
// server that cannot serve now.
var transientClasses = []string{
	"08", // connection exception
	"53", // insufficient resources (too many connections, out of memory, disk full)
	"57", // operator intervention (query_canceled, admin_shutdown, crash_shutdown, cannot_connect_now)
	"58", // system error (I/O)
}

// retryableCodes are conflicts after which the transaction was rolled back
// whole: sending it again is safe.
var retryableCodes = []string{
	"40001", // serialization_failure
	"40P01", // deadlock_detected
	"55P03", // lock_not_available
}

// Unique violation.
const uniqueViolation = "23505"

// transient reports whether err leaves the operation's outcome unknown or
// unapplied because the server could not serve it now.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		for _, class := range transientClasses {
			if strings.HasPrefix(pgErr.Code, class) {
				return true
			}
		}
		return retryable(err)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.As(err, &opErr) {
		return true
	}
	// pgx reports a connection it closed after a failure, or a pool that
	// is closing, in plain errors.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool") ||
		strings.Contains(msg, "failed to connect") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe")
}

// retryable reports a conflict after which the whole statement was rolled
// back, so sending it again is safe.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range retryableCodes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}

// duplicate reports a unique violation.
func duplicate(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

// violates reports a unique violation of the named index.
func violates(err error, index string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == index
}

// fail maps a driver error to Focal's codes: transient conditions are
// STORE_UNAVAILABLE, anything else INTERNAL_ERROR; domain errors pass
// through.
func fail(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("postgres %s: %w", what, err)
	if transient(err) {
		return domain.WrapError(domain.CodeStoreUnavailable, cause, "the store did not answer in time")
	}
	return domain.WrapError(domain.CodeInternal, cause, "the store failed")
}

// retries bounds how often a statement is sent again before the caller
// gets its error.
const retries = 3

// Sending a statement again is always safe when it never reached the
// server (pgconn.SafeToRetry: pgx failed before writing it) or when the
// server rolled it back whole (a retryable conflict). After a connection
// lost while the statement was out, the server may have applied it: only a
// statement whose second application changes nothing the first did not
// (a read, a delete, or a write guarded by a fence, an owner, a nonce of
// its call or its own values, as a policy version's insert admits its own
// row) is sent again then, and a rate take, which accepts counting a
// request twice (ratelimit.go). A transaction lost before its commit was
// sent was rolled back and is sent again; one whose commit was lost reads
// whether it landed first (a model key's write, tenants.go keyWrite).

// retry runs fn again while it failed before reaching the server or with a
// conflict that rolled it back, with a short growing pause: for statements
// that must not be applied twice.
func retry(ctx context.Context, fn func() error) error {
	return retryWhile(ctx, func(err error) bool { return pgconn.SafeToRetry(err) || retryable(err) }, fn)
}

// retryIdempotent runs fn again as retry does, and also after the
// connection was lost with the statement's answer: for reads and for
// writes that are idempotent.
func retryIdempotent(ctx context.Context, fn func() error) error {
	return retryWhile(ctx, func(err error) bool { return pgconn.SafeToRetry(err) || retryable(err) || connectionLost(err) }, fn)
}

func retryWhile(ctx context.Context, again func(error) bool, fn func() error) error {
	pause := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == retries || ctx.Err() != nil || !again(err) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause *= 4
	}
}

// deleteRow runs a delete of one row, sent again after a lost connection too:
// a second send deletes nothing the first did not. It reports whether the
// row was deleted: by this send, or by an earlier one whose answer was
// lost, which a resend finding nothing takes it did. A first send finding
// nothing is the caller's NOT_FOUND; a resend cannot tell a row that was
// never there, so a delete of nothing whose answer was lost succeeds (the
// outcome asked for holds either way). Like every resent write, a resend
// may delete a row put again between its sends.
func (db *DB) deleteRow(ctx context.Context, what, query string, args ...any) (bool, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	var deleted, lost bool
	err := retryIdempotent(ctx, func() error {
		tag, err := db.pool.Exec(ctx, query, args...)
		deleted = err == nil && (tag.RowsAffected() > 0 || lost)
		lost = lost || answerLost(err)
		return err
	})
	return deleted, fail(err, what)
}

// answerLost reports a connection lost after the statement may have
// reached the server: the server may have applied it.
func answerLost(err error) bool { return connectionLost(err) && !pgconn.SafeToRetry(err) }

// connectionLost reports a failure of the connection rather than an answer
// of the server: the pool gives the next attempt another connection. A
// FATAL (or PANIC) error is the server ending the session, as it does to
// an idle connection it terminates (pg_terminate_backend, a shutdown):
// pgx has closed the connection, and whether the statement ran is unknown.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.EqualFold(pgErr.Severity, "FATAL") || strings.EqualFold(pgErr.Severity, "PANIC")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return transient(err)
}
