// Package httpapi is Focal's HTTP adapter (directory adapters/http): the gin
// router, middleware, handlers and the one table from error code to status.
// Handlers only translate between HTTP and the application's commands.
package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/domain"
)

// Error codes of the HTTP protocol itself, beside the domain's closed set:
// no use case can produce them.
const (
	CodeMethodNotAllowed     domain.ErrorCode = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge      domain.ErrorCode = "PAYLOAD_TOO_LARGE"
	CodeUnsupportedMediaType domain.ErrorCode = "UNSUPPORTED_MEDIA_TYPE"
)

// statusOf is the one table from error code to HTTP status; docs/api.md
// and the OpenAPI document show the same (openapi_test.go checks).
var statusOf = map[domain.ErrorCode]int{
	domain.CodeInvalidRequest:        http.StatusBadRequest,
	domain.CodeUnauthenticated:       http.StatusUnauthorized,
	domain.CodeForbidden:             http.StatusForbidden,
	domain.CodeTenantMismatch:        http.StatusForbidden,
	domain.CodeAgentNotFound:         http.StatusNotFound,
	domain.CodeSessionNotFound:       http.StatusNotFound,
	domain.CodeTurnNotFound:          http.StatusNotFound,
	domain.CodeNotFound:              http.StatusNotFound,
	CodeMethodNotAllowed:             http.StatusMethodNotAllowed,
	domain.CodeSessionClosed:         http.StatusConflict,
	domain.CodeSessionBusy:           http.StatusConflict,
	domain.CodeIdempotencyInProgress: http.StatusConflict,
	domain.CodeTurnInProgress:        http.StatusConflict,
	domain.CodeVersionConflict:       http.StatusConflict,
	CodePayloadTooLarge:              http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType:         http.StatusUnsupportedMediaType,
	domain.CodeIdempotencyKeyReused:  http.StatusUnprocessableEntity,
	domain.CodeRateLimitExceeded:     http.StatusTooManyRequests,
	domain.CodeBudgetExceeded:        http.StatusTooManyRequests,
	domain.CodeInternal:              http.StatusInternalServerError,
	domain.CodeLLMError:              http.StatusBadGateway,
	domain.CodeLLMUnavailable:        http.StatusServiceUnavailable,
	domain.CodeStoreUnavailable:      http.StatusServiceUnavailable,
	domain.CodeTimeout:               http.StatusGatewayTimeout,
}

// HTTPStatus returns the status for an error code (500 for unknown codes).
func HTTPStatus(code domain.ErrorCode) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error ErrorPayload `json:"error"`
}

// ErrorPayload describes one error.
type ErrorPayload struct {
	Code      domain.ErrorCode    `json:"code"`
	Message   string              `json:"message"`
	Details   []domain.FieldError `json:"details"`
	RequestID string              `json:"request_id"`
	// Outcome is "unknown" when what failed may have taken effect (a turn
	// whose commit the store confirmed neither way); TurnID names that turn.
	Outcome string `json:"outcome,omitempty"`
	TurnID  string `json:"turn_id,omitempty"`
}

// errorPayload converts err into what the client sees. Errors without a
// code are internal: their text is logged, never shown.
func errorPayload(c *gin.Context, err error) (int, ErrorPayload, *domain.Error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		de = domain.WrapError(domain.CodeInternal, err, "internal error")
	}
	msg := de.Message
	if de.Code == domain.CodeInternal {
		msg = "internal error"
	}
	details := de.Details
	if details == nil {
		details = []domain.FieldError{}
	}
	return HTTPStatus(de.Code), ErrorPayload{Code: de.Code, Message: msg, Details: details, RequestID: requestID(c),
		Outcome: de.Outcome, TurnID: de.TurnID}, de
}

// writeError answers with the error body and the headers its code calls
// for, logging server-side failures with their cause.
func writeError(c *gin.Context, err error) {
	status, payload, de := errorPayload(c, err)
	c.Set(keyErrorCode, string(de.Code))
	if status >= 500 {
		logctx.From(c.Request.Context(), zap.NewNop()).Error("request failed", zap.String("code", string(de.Code)), zap.Error(err))
	}
	switch {
	case de.Code == domain.CodeUnauthenticated:
		c.Header("WWW-Authenticate", `Bearer realm="focal"`)
	case de.RetryAfter > 0:
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
	}
	if speaksOpenAI(c) {
		c.AbortWithStatusJSON(status, openAIErrorBody(status, payload))
		return
	}
	c.AbortWithStatusJSON(status, ErrorBody{Error: payload})
}
