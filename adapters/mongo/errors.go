package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"focal/domain"
)

// What a driver error means for the caller, in one place.
//
// An error is transient when the server could not be reached or answer in
// time, or when the replica set is changing primary or shutting a member
// down, or when a write could not be confirmed durable: in every one of
// those the operation may or may not have been applied, and trying again
// (or reading back what it meant to write) settles it. Those map to
// STORE_UNAVAILABLE, which is what makes the application read a commit
// back instead of reporting it failed. Anything else the server answered
// is a definite refusal: INTERNAL_ERROR.

// transientCodes are server error codes of a replica set in transition or
// an unreachable member (from the server's error_codes.yml).
var transientCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	50,    // MaxTimeMSExpired
	64,    // WriteConcernFailed
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	100,   // UnsatisfiableWriteConcern
	134,   // ReadConcernMajorityNotAvailableYet
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10058, // LegacyNotPrimary
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// transientLabels are the labels the server and the driver put on errors
// worth retrying.
var transientLabels = []string{
	"RetryableWriteError", "TransientTransactionError", "NetworkError",
	"NetworkTimeoutError", "ExceededTimeLimitError", "SystemOverloadedError", "RetryableError",
}

// transient reports whether err leaves the operation's outcome unknown
// because the store was unreachable or changing hands (see above).
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, mdb.ErrClientDisconnected) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		mdb.IsTimeout(err) || mdb.IsNetworkError(err) {
		return true
	}
	var (
		selection topology.ServerSelectionError
		conn      topology.ConnectionError
		waitQueue topology.WaitQueueTimeoutError
		pool      topology.PoolError
		netErr    net.Error
		// The driver's pool-cleared error is unexported; it says so.
		retryable interface{ Retryable() bool }
	)
	switch {
	case errors.As(err, &selection), errors.As(err, &conn), errors.As(err, &waitQueue), errors.As(err, &pool),
		errors.As(err, &netErr):
		return true
	case errors.As(err, &retryable) && retryable.Retryable():
		return true
	}
	var labelled mdb.LabeledError
	if errors.As(err, &labelled) && slices.ContainsFunc(transientLabels, labelled.HasErrorLabel) {
		return true
	}
	// A write concern error means the write was applied on the primary
	// but not confirmed durable: it may yet be rolled back.
	var we mdb.WriteException
	if errors.As(err, &we) && we.WriteConcernError != nil {
		return true
	}
	var bwe mdb.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError != nil {
		return true
	}
	if serverOverloaded(err) {
		return true
	}
	return slices.ContainsFunc(mdb.ErrorCodes(err), func(c int) bool { return slices.Contains(transientCodes, c) })
}

// serverOverloaded recognises how FerretDB (SQLite) reports an operation
// it did not carry out because it was too busy or out of time:
// InternalError (1) with SQLite's "database is locked" (SQLITE_BUSY) or
// "interrupted" (SQLITE_INTERRUPT, its time limit), where MongoDB answers
// with a code of its own (MaxTimeMSExpired) or waits.
func serverOverloaded(err error) bool {
	var ce mdb.CommandError
	if !errors.As(err, &ce) || ce.Code != 1 {
		return false
	}
	return strings.HasSuffix(ce.Message, "interrupted (9)") || strings.Contains(ce.Message, "(SQLITE_BUSY)") ||
		strings.Contains(ce.Message, "(SQLITE_LOCKED)")
}

// duplicate reports a duplicate key: an insert-once write found its key
// taken. It is definite only without a write concern error, which callers
// check first through transient when it matters.
func duplicate(err error) bool { return mdb.IsDuplicateKeyError(err) }

// fail maps a driver error to Focal's codes: transient conditions (see
// transient) are STORE_UNAVAILABLE, any other answer of the server is
// INTERNAL_ERROR; domain errors pass through.
func fail(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("mongo %s: %w", what, err)
	if transient(err) {
		return domain.WrapError(domain.CodeStoreUnavailable, cause, "the store did not answer in time")
	}
	return domain.WrapError(domain.CodeInternal, cause, "the store failed")
}

// unknownOutcome reports an error after which a write may or may not have
// been applied, so its result must be read back.
func unknownOutcome(err error) bool {
	return domain.IsCode(err, domain.CodeStoreUnavailable)
}

// stopped reports a wait that ended because its caller's context did.
func stopped(ctx context.Context) error {
	return domain.WrapError(domain.CodeStoreUnavailable, context.Cause(ctx), "the store did not answer in time")
}
