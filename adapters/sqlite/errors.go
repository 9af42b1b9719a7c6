package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlite "modernc.org/sqlite"

	"focal/domain"
)

// What a driver error means for the caller, in one place.
//
// Transient: the file is locked by another connection past the busy
// timeout ("database is locked", SQLITE_BUSY, SQLITE_LOCKED), the
// statement was interrupted (its context ended), the disk is full or an
// I/O error occurred, the file cannot be opened. The transaction was then
// rolled back, or its outcome is unknown (an I/O error at commit): either
// way STORE_UNAVAILABLE, which makes the application read a commit back.
// Anything else is INTERNAL_ERROR. Unique violations the stores expect are
// answered by them as the domain code they mean; ones they do not expect
// land here as INTERNAL_ERROR.

// Primary result codes (sqlite3.h).
const (
	codeBusy       = 5
	codeLocked     = 6
	codeNoMem      = 7
	codeInterrupt  = 9
	codeIOErr      = 10
	codeFull       = 13
	codeCantOpen   = 14
	codeProtocol   = 15
	codeConstraint = 19
)

// Extended codes of a unique violation.
const (
	constraintPrimaryKey = 1555
	constraintUnique     = 2067
)

func code(err error) (int, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0, false
	}
	return se.Code(), true
}

// transient reports whether err means the store could not serve now.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	c, ok := code(err)
	if !ok {
		return false
	}
	switch c & 0xff {
	case codeBusy, codeLocked, codeNoMem, codeInterrupt, codeIOErr, codeFull, codeCantOpen, codeProtocol:
		return true
	}
	return false
}

// duplicate reports a unique violation.
func duplicate(err error) bool {
	c, ok := code(err)
	return ok && (c == constraintUnique || c == constraintPrimaryKey)
}

// fail maps a driver error to Focal's codes; domain errors pass through.
func fail(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("sqlite %s: %w", what, err)
	if transient(err) {
		return domain.WrapError(domain.CodeStoreUnavailable, cause, "the store did not answer in time")
	}
	return domain.WrapError(domain.CodeInternal, cause, "the store failed")
}
