package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"focal/domain"
	"focal/ports"
)

func TestClassify(t *testing.T) {
	status := func(s int) error {
		return domain.WrapError(domain.CodeLLMError, &HTTPError{Status: s, RetryAfter: time.Second}, "x")
	}
	var syntax error = &json.SyntaxError{}
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Class{}},
		{"400 is the request's fault", status(400), Class{Status: 400, RetryAfter: time.Second}},
		{"401", status(401), Class{Status: 401, RetryAfter: time.Second}},
		{"408", status(408), Class{Status: 408, RetryAfter: time.Second, Retryable: true, Counts: Failure}},
		{"409 retried, not counted", status(409), Class{Status: 409, RetryAfter: time.Second, Retryable: true}},
		{"429", status(429), Class{Status: 429, RetryAfter: time.Second, Retryable: true, Counts: Failure}},
		{"500", status(500), Class{Status: 500, RetryAfter: time.Second, Retryable: true, Counts: Failure}},
		{"529", status(529), Class{Status: 529, RetryAfter: time.Second, Retryable: true, Counts: Failure}},
		{"refused", &url.Error{Op: "Post", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, Class{Retryable: true, Counts: Failure}},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), Class{Retryable: true, Counts: Failure}},
		{"cut body", fmt.Errorf("stream: %w", io.ErrUnexpectedEOF), Class{Retryable: true, Counts: Failure}},
		{"malformed", fmt.Errorf("decode: %w", syntax), Class{Retryable: true, Counts: Failure}},
		{"dns not found", &net.DNSError{Err: "no such host", IsNotFound: true}, Class{Counts: Failure}},
		{"dns timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, Class{Retryable: true, Counts: Failure}},
		{"dns temporary", &net.DNSError{Err: "server misbehaving", IsTemporary: true}, Class{Retryable: true, Counts: Failure}},
		{"aborted", fmt.Errorf("write: %w", syscall.ECONNABORTED), Class{Retryable: true, Counts: Failure}},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), Class{Retryable: true, Counts: Failure}},
		{"closed before answering", &url.Error{Op: "Post", Err: io.EOF}, Class{Retryable: true, Counts: Failure}},
		{"dial timeout", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, Class{Retryable: true, Counts: Failure}},
		{"address refused", &net.OpError{Op: "dial", Err: errors.New("address not allowed for tools")}, Class{Counts: Failure}},
		{"reset in the text", errors.New("http2: connection reset by peer"), Class{Retryable: true, Counts: Failure}},
		{"refused in the text", errors.New("proxy: connection refused"), Class{Retryable: true, Counts: Failure}},
		{"idle close", errors.New("http: server closed idle connection"), Class{Retryable: true, Counts: Failure}},
		{"first token", errors.Join(ErrFirstTokenTimeout, context.Canceled), Class{Retryable: true, Counts: Failure}},
		{"attempt timeout", errors.Join(ErrAttemptTimeout, context.DeadlineExceeded), Class{Retryable: true, Counts: Failure}},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), Class{Cancelled: true, Counts: Ignored}},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), Class{Counts: Failure}},
		{"consumer", &ConsumerError{Err: errors.New("violation")}, Class{Counts: Ignored}},
		{"offline", ports.ErrOffline, Class{Counts: Ignored}},
		{"unknown", errors.New("x509: certificate signed by unknown authority"), Class{Counts: Failure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Classify(tc.err))
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", http.Header{}, 0},
		{"ms wins", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}, 1500 * time.Millisecond},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"fraction", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{"negative", http.Header{"Retry-After": {"-1"}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"bad ms falls back", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"1"}}, time.Second},
		{"zero ms falls back", http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"2"}}, 2 * time.Second},
		{"past date", http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseRetryAfter(tc.h))
		})
	}
	date := http.Header{"Retry-After": {time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)}}
	got := ParseRetryAfter(date)
	assert.True(t, got > 8*time.Second && got <= 10*time.Second, "HTTP date: %v", got)
}
