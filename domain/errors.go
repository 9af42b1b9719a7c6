package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrorCode is one of the closed set of error codes Focal returns to clients.
// Every error that crosses a port carries one; adapters map codes to their own
// protocol (the HTTP adapter has the one table from code to status).
type ErrorCode string

// The closed set of error codes that cross ports (docs/api.md lists them
// with their HTTP statuses). The HTTP adapter adds the few that only its
// protocol can produce (a method not allowed, a body too large or of the
// wrong type).
const (
	CodeInvalidRequest        ErrorCode = "INVALID_REQUEST"
	CodeUnauthenticated       ErrorCode = "UNAUTHENTICATED"
	CodeForbidden             ErrorCode = "FORBIDDEN"
	CodeTenantMismatch        ErrorCode = "TENANT_MISMATCH"
	CodeAgentNotFound         ErrorCode = "AGENT_NOT_FOUND"
	CodeSessionNotFound       ErrorCode = "SESSION_NOT_FOUND"
	CodeTurnNotFound          ErrorCode = "TURN_NOT_FOUND"
	CodeTurnInProgress        ErrorCode = "TURN_IN_PROGRESS"
	CodeNotFound              ErrorCode = "NOT_FOUND"
	CodeSessionClosed         ErrorCode = "SESSION_CLOSED"
	CodeSessionBusy           ErrorCode = "SESSION_BUSY"
	CodeIdempotencyInProgress ErrorCode = "IDEMPOTENCY_IN_PROGRESS"
	CodeVersionConflict       ErrorCode = "VERSION_CONFLICT"
	CodeIdempotencyKeyReused  ErrorCode = "IDEMPOTENCY_KEY_REUSED"
	CodeRateLimitExceeded     ErrorCode = "RATE_LIMIT_EXCEEDED"
	CodeBudgetExceeded        ErrorCode = "BUDGET_EXCEEDED"
	CodeInternal              ErrorCode = "INTERNAL_ERROR"
	CodeLLMError              ErrorCode = "LLM_ERROR"
	CodeLLMUnavailable        ErrorCode = "LLM_UNAVAILABLE"
	CodeStoreUnavailable      ErrorCode = "STORE_UNAVAILABLE"
	CodeTimeout               ErrorCode = "TIMEOUT"
)

// FieldError names one invalid input field and why it is invalid.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is Focal's application error: a code from the closed set, a message
// safe to show to the caller, optional per-field details and, for codes that
// invite a retry, how long to wait. The wrapped cause is for logs only.
type Error struct {
	Code       ErrorCode
	Message    string
	Details    []FieldError
	RetryAfter time.Duration
	// Outcome is OutcomeUnknown when what failed may have taken effect all
	// the same (a turn whose commit the store could not confirm either way);
	// TurnID then names that turn. Empty for every other error.
	Outcome string
	TurnID  string
	Cause   error
}

// OutcomeUnknown marks an error whose operation may have succeeded.
const OutcomeUnknown = "unknown"

// UnknownOutcome is the error of a turn whose commit could not be
// confirmed or refuted: STORE_UNAVAILABLE, retryable, naming the turn. A
// retry with the request's Idempotency-Key, or a read of the turn, learns
// what happened.
func UnknownOutcome(turnID string, cause error) *Error {
	return &Error{Code: CodeStoreUnavailable, Outcome: OutcomeUnknown, TurnID: turnID, RetryAfter: time.Second, Cause: cause,
		Message: "the store did not confirm whether turn " + turnID + " was recorded; retry with the same Idempotency-Key, or read the turn, to learn its outcome"}
}

// IsUnknownOutcome reports whether err is an UnknownOutcome error.
func IsUnknownOutcome(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Outcome == OutcomeUnknown
}

// Error returns the code and message, then each invalid field and the
// cause, for logs and command-line tools.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	for _, d := range e.Details {
		fmt.Fprintf(&b, "; %s %s", d.Field, d.Message)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	return b.String()
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an Error with a formatted, client-safe message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError builds an Error that keeps cause for logs; message is what the
// client sees.
func WrapError(code ErrorCode, cause error, message string) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// InvalidFields builds an INVALID_REQUEST error listing each bad field.
func InvalidFields(details ...FieldError) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "request is invalid", Details: details}
}

// ErrorCodeOf returns the code carried by err, or INTERNAL_ERROR when err is
// not a Focal error. It returns "" for a nil error.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries code. A nil error is answered
// before errors.As, whose target would otherwise be allocated on every
// call: the hot paths (commits, releases) ask about nil errors.
func IsCode(err error, code ErrorCode) bool {
	if err == nil {
		return false
	}
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// String returns the code itself.
func (c ErrorCode) String() string { return string(c) }
