package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
)

// errIncomplete is a stream that ended cleanly but before the provider said
// the reply was complete: a cut the transport did not notice.
var errIncomplete = fmt.Errorf("stream ended before the reply was complete: %w", io.ErrUnexpectedEOF)

// endOfStream settles a finished read of a provider stream, the same way
// for every provider: a transport error is mapped, and a stream that ended
// without the provider's own end marker (finish reason, message_stop) is
// incomplete, since a clean EOF and a proper end look alike to the SDKs.
func endOfStream(ctx context.Context, res ports.ChatResult, text string, streamErr error, finished bool, who, key string) (ports.ChatResult, error) {
	res.Text = text
	switch {
	case streamErr != nil:
		return res, mapError(ctx, streamErr, who, key)
	case !finished:
		return res, mapError(ctx, errIncomplete, who, key)
	}
	return res, nil
}

// mapError turns an SDK error into Focal's codes:
//   - the consumer's own error (onDelta) passes through untouched;
//   - the context ended: LLM_UNAVAILABLE with the context's error and cause
//     in the chain (the caller decides whether that was its TIMEOUT);
//   - the provider answered with an error status, or sent an error event
//     mid-stream: LLM_ERROR with a resilience.HTTPError cause (status,
//     sanitized message, Retry-After);
//   - a malformed body or stream: LLM_ERROR, since the provider did answer,
//     just not in its protocol; it is retryable before the first delta;
//   - anything else (refused, reset, DNS, TLS, EOF mid-body):
//     LLM_UNAVAILABLE.
//
// who names the model ("openai/gpt-4o-mini"); secrets are redacted from
// provider messages.
func mapError(ctx context.Context, err error, who string, secrets ...string) error {
	var consumer *resilience.ConsumerError
	var domainErr *domain.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &consumer), errors.Is(err, resilience.ErrFirstTokenTimeout):
		return err
	case errors.As(err, &domainErr):
		return err
	case ctx.Err() != nil:
		cause := err
		if !errors.Is(err, ctx.Err()) {
			cause = errors.Join(ctx.Err(), err)
		}
		if c := context.Cause(ctx); c != nil && !errors.Is(cause, c) {
			cause = errors.Join(c, cause)
		}
		return domain.WrapError(domain.CodeLLMUnavailable, cause, fmt.Sprintf("model %s call ended: %v", who, ctx.Err()))
	}
	if he := providerError(err, secrets); he != nil {
		return &domain.Error{
			Code:       domain.CodeLLMError,
			Message:    fmt.Sprintf("model %s answered with an error: %s", who, he.Error()),
			RetryAfter: he.RetryAfter,
			Cause:      he,
		}
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typeErr) {
		return domain.WrapError(domain.CodeLLMError, err, fmt.Sprintf("model %s sent a malformed response", who))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return domain.WrapError(domain.CodeLLMUnavailable, err, fmt.Sprintf("model %s connection was lost mid-reply", who))
	}
	return domain.WrapError(domain.CodeLLMUnavailable, err, fmt.Sprintf("model %s could not be reached", who))
}

// providerError extracts status, message and Retry-After from either SDK's
// API error or a stream error event; nil when err is not one.
func providerError(err error, secrets []string) *resilience.HTTPError {
	var oa *openai.Error
	if errors.As(err, &oa) {
		msg := oa.Message
		if msg == "" {
			msg = http.StatusText(oa.StatusCode)
		}
		return &resilience.HTTPError{Status: oa.StatusCode, RetryAfter: retryAfterOf(oa.Response),
			Message: sanitize(msg, secrets), Err: err}
	}
	var an *anthropic.Error
	if errors.As(err, &an) {
		status := an.StatusCode
		if status < 400 {
			// An error event inside a 200 stream: the type says what it means.
			status = statusOfErrorType(string(an.Type()))
		}
		msg := an.Message
		if msg == "" {
			msg = string(an.Type())
		}
		return &resilience.HTTPError{Status: status, RetryAfter: retryAfterOf(an.Response),
			Message: sanitize(msg, secrets), Err: err}
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		// OpenAI-style {"error":{"message","type","code"}} inside a stream.
		var body struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Code    any    `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(se.Event.Data, &body)
		kind := body.Error.Type
		if code, ok := body.Error.Code.(string); ok && strings.Contains(code, "rate_limit") {
			kind = "rate_limit_error"
		}
		msg := body.Error.Message
		if msg == "" {
			msg = "error event in the stream"
		}
		return &resilience.HTTPError{Status: statusOfErrorType(kind), Message: sanitize(msg, secrets), Err: err}
	}
	return nil
}

// statusOfErrorType maps the error types providers put in error bodies and
// stream error events to the HTTP status they stand for. Unknown types are
// server errors: a stream that broke after a 200 is the server's doing.
func statusOfErrorType(kind string) int {
	switch kind {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error", "requests", "tokens":
		return http.StatusTooManyRequests
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return 529
	}
	return http.StatusInternalServerError
}

func retryAfterOf(res *http.Response) time.Duration {
	if res == nil {
		return 0
	}
	return resilience.ParseRetryAfter(res.Header)
}

// secretPatterns match credentials providers echo back ("Incorrect API key
// provided: sk-proj-…") and bearer tokens.
var secretPatterns = regexp.MustCompile(`(?i)\b(sk|pk|rk|key)-[a-z0-9_\-*.]{6,}|bearer\s+[a-z0-9._\-~+/=]{6,}`)

// maxMessage bounds a provider message shown to clients.
const maxMessage = 300

// sanitize makes a provider message safe to show: configured secrets and
// anything shaped like a key are redacted, whitespace is folded, and the
// length is bounded.
func sanitize(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = secretPatterns.ReplaceAllString(msg, "[redacted]")
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > maxMessage {
		msg = string(r[:maxMessage]) + "…"
	}
	return msg
}
