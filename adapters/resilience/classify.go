// Package resilience guards calls to the services Focal depends on (chat
// models, embedders, tool webhooks): per-attempt deadlines, a first-token
// watchdog for streams, retries with exponential backoff and jitter that
// honour Retry-After, and one circuit breaker per dependency. Adapters map
// their errors into *domain.Error values whose causes this package can
// classify; the Guard decides from that classification alone.
package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"focal/ports"
)

// ErrFirstTokenTimeout cancels a streaming attempt that passed on nothing
// within the first-token timeout; the attempt is retryable.
var ErrFirstTokenTimeout = errors.New("no first token within the first-token timeout")

// ErrAttemptTimeout cancels an attempt that ran past its per-attempt timeout.
var ErrAttemptTimeout = errors.New("attempt exceeded its timeout")

// Outcome is how the breaker counts a finished call.
type Outcome int

// Breaker outcomes.
const (
	// Success: the dependency worked (including a 4xx it rightly refused).
	Success Outcome = iota
	// Failure: the dependency is at fault; enough in a row open the breaker.
	Failure
	// Ignored: nobody's fault, such as a caller that went away.
	Ignored
)

// Class is what the Guard needs to know about a call's error.
type Class struct {
	// Status is the HTTP status the dependency answered with, 0 if none.
	Status int
	// RetryAfter is the dependency's Retry-After hint, 0 if none.
	RetryAfter time.Duration
	// Retryable reports that the same call may succeed if tried again.
	Retryable bool
	// Cancelled reports that the caller cancelled the call.
	Cancelled bool
	// Counts is how the breaker counts the call.
	Counts Outcome
}

// StatusCarrier is an error carrying the HTTP status a dependency answered
// with (HTTPError, tools.StatusError).
type StatusCarrier interface{ HTTPStatus() int }

// RetryAfterCarrier is an error carrying a dependency's Retry-After hint.
type RetryAfterCarrier interface{ RetryAfterHint() time.Duration }

// HTTPError is a dependency answering with an error status, or a stream
// error event mapped to the status it stands for. Message is already safe
// to log (no credentials); Err is the SDK's own error.
type HTTPError struct {
	Status     int
	RetryAfter time.Duration
	Message    string
	Err        error
}

// Error prints the sanitized summary, never the SDK's error: some SDK
// errors print request URLs and raw bodies.
func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// Unwrap exposes the SDK error to errors.As.
func (e *HTTPError) Unwrap() error { return e.Err }

// HTTPStatus implements StatusCarrier.
func (e *HTTPError) HTTPStatus() int { return e.Status }

// RetryAfterHint implements RetryAfterCarrier.
func (e *HTTPError) RetryAfterHint() time.Duration { return e.RetryAfter }

// ConsumerError wraps an error returned by the consumer of a stream (the
// onDelta callback): the dependency did nothing wrong, so it is neither
// retried nor counted by the breaker.
type ConsumerError struct{ Err error }

func (e *ConsumerError) Error() string { return "stream consumer stopped: " + e.Err.Error() }

// Unwrap exposes the consumer's error.
func (e *ConsumerError) Unwrap() error { return e.Err }

// RetryableStatus reports whether a dependency answering status may succeed
// on a second try: timeouts, conflicts, rate limits and server errors.
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}

// Classify tells how err should be retried and counted. It cannot tell the
// caller's cancellation from the Guard's own; the Guard, which owns both
// contexts, refines the answer.
func Classify(err error) Class {
	if err == nil {
		return Class{}
	}
	var consumer *ConsumerError
	if errors.As(err, &consumer) || errors.Is(err, ports.ErrOffline) {
		return Class{Counts: Ignored}
	}
	if errors.Is(err, ErrFirstTokenTimeout) || errors.Is(err, ErrAttemptTimeout) {
		return Class{Retryable: true, Counts: Failure}
	}
	var sc StatusCarrier
	if errors.As(err, &sc) && sc.HTTPStatus() > 0 {
		c := Class{Status: sc.HTTPStatus(), Retryable: RetryableStatus(sc.HTTPStatus())}
		var ra RetryAfterCarrier
		if errors.As(err, &ra) {
			c.RetryAfter = ra.RetryAfterHint()
		}
		// 409 is worth a retry but says nothing about the dependency's health;
		// other 4xx mean the request was wrong, which a healthy service says.
		if c.Status >= 500 || c.Status == http.StatusRequestTimeout || c.Status == http.StatusTooManyRequests {
			c.Counts = Failure
		}
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Class{Cancelled: true, Counts: Ignored}
	case errors.Is(err, context.DeadlineExceeded):
		return Class{Counts: Failure}
	}
	return Class{Retryable: transient(err), Counts: Failure}
}

// transient reports connection-level failures worth another attempt:
// refused, reset, broken pipe, a body cut short, a timeout, a garbled
// stream. Certificate and address errors are not.
func transient(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	var syntax *json.SyntaxError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, &syntax):
		return true
	case errors.As(err, &netErr):
		return netErr.Timeout()
	}
	// HTTP/2 and some proxies report resets only in the text.
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "server closed idle connection")
}

// ParseRetryAfter reads a Retry-After hint from response headers:
// Retry-After-Ms (milliseconds, as OpenAI and Anthropic send), else
// Retry-After in seconds or as an HTTP date. It returns 0 when absent.
func ParseRetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
