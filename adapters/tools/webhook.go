// Package tools calls the HTTP webhooks that agent rules bind as tools.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
)

// Webhook invokes tools by POSTing JSON to their URL:
//
//	request:  {"message": "...", "variables": {...}, "rule_id": "...", "session_id": "...", "tenant_id": "...",
//	           "agent_id": "...", "turn_id": "...", "tool_id": "..."}
//	headers:  Idempotency-Key: <turn_id>:<tool_id>, and for a tool with a secret
//	          Focal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
//	response: {"variables": {"name": value, ...}}
//
// The caller's context carries the tool's timeout. Tool URLs are written by
// tenants, so the client only reaches public addresses (or hosts the
// operator allowed), never follows a redirect, reads a bounded answer, and
// reports every failure as "tool X failed: <category>" without the
// transport's own words, which would tell an open port from a closed one.
type Webhook struct {
	client *http.Client
	limits outputLimits
	clock  ports.Clock
}

// outputLimits bound what one tool answer may put into a session.
type outputLimits struct {
	bytes, keys, valueBytes int
}

var _ ports.ToolInvoker = (*Webhook)(nil)

// NewWebhook returns an invoker with cfg's allow-list and output limits.
func NewWebhook(cfg Config) (*Webhook, error) {
	egress, err := NewEgress(cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	dialer := newGuardedDialer(egress.allowed, 5*time.Second)
	client := &http.Client{
		Transport: &http.Transport{
			// No Proxy: a proxy would make the connection the dialer checks.
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			// No ResponseHeaderTimeout: the call's context carries the
			// tool's own timeout_ms (up to 120 s), which a shorter one here
			// would cut and report as unreachable rather than timed out.
		},
		// A redirect could point anywhere, the dialer's checks aside; the
		// answer to the first request is the tool's answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Webhook{client: client, limits: outputLimits{bytes: cfg.MaxOutputBytes, keys: cfg.MaxOutputKeys, valueBytes: cfg.MaxValueBytes},
		clock: systemClock{}}, nil
}

// WithClock makes signatures carry c's time; call it before serving.
func (w *Webhook) WithClock(c ports.Clock) *Webhook {
	w.clock = c
	return w
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (systemClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

// StatusError is a tool answering with a non-2xx status.
type StatusError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *StatusError) Error() string { return fmt.Sprintf("tool answered HTTP %d", e.Status) }

// HTTPStatus exposes the status to the resilience decorator.
func (e *StatusError) HTTPStatus() int { return e.Status }

// RetryAfterHint exposes the tool's Retry-After to the resilience decorator.
func (e *StatusError) RetryAfterHint() time.Duration { return e.RetryAfter }

// failed is the one shape of a tool error: code, "tool <id> failed:
// <category>", and the cause (URLs redacted) for logs only.
func failed(tool domain.Tool, code domain.ErrorCode, cause error, category string) error {
	var ue *url.Error
	if errors.As(cause, &ue) {
		ue.URL = domain.RedactURL(ue.URL)
	}
	return &domain.Error{Code: code, Message: fmt.Sprintf("tool %s failed: %s", tool.ID, category), Cause: cause}
}

// InvokeTool implements ports.ToolInvoker. The body is the same bytes for
// the same input (encoding/json writes map keys in order), so every retry
// of a call sends what the first attempt sent, under the same key.
func (w *Webhook) InvokeTool(ctx context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	secret, ok := secretOf(tool, in.TenantID)
	if !ok {
		return nil, failed(tool, domain.CodeInternal, nil, "its secret is not available")
	}
	in.ToolID = tool.ID
	body, err := json.Marshal(in)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "tool input cannot be encoded")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tool.URL, bytes.NewReader(body))
	if err != nil {
		return nil, failed(tool, domain.CodeInternal, err, "its URL is invalid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if in.TurnID != "" {
		req.Header.Set(HeaderIdempotencyKey, in.TurnID+":"+tool.ID)
	}
	if secret != nil {
		req.Header.Set(HeaderSignature, Sign(secret, w.clock.Now(), body))
	}
	res, err := w.client.Do(req)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, failed(tool, domain.CodeTimeout, err, "timed out")
	case errors.Is(err, errAddressNotAllowed):
		return nil, failed(tool, domain.CodeInternal, err, "its address is not allowed")
	default:
		return nil, failed(tool, domain.CodeInternal, err, "unreachable")
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		se := &StatusError{Status: res.StatusCode, RetryAfter: resilience.ParseRetryAfter(res.Header)}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, int64(w.limits.bytes)))
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			return nil, failed(tool, domain.CodeInternal, se, "it answered with a redirect, which tools may not follow")
		}
		return nil, failed(tool, domain.CodeInternal, se, fmt.Sprintf("it answered HTTP %d", res.StatusCode))
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, int64(w.limits.bytes)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, failed(tool, domain.CodeTimeout, err, "timed out")
		}
		return nil, failed(tool, domain.CodeInternal, err, "its answer could not be read")
	}
	return w.variables(tool, raw)
}

// variables decodes a tool's answer within the output limits.
func (w *Webhook) variables(tool domain.Tool, raw []byte) (map[string]any, error) {
	if len(raw) > w.limits.bytes {
		return nil, failed(tool, domain.CodeInternal, nil, fmt.Sprintf("its answer exceeds %d bytes", w.limits.bytes))
	}
	var out struct {
		Variables map[string]json.RawMessage `json:"variables"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Variables == nil {
		return nil, failed(tool, domain.CodeInternal, err, `its answer is not {"variables": {...}}`)
	}
	if len(out.Variables) > w.limits.keys {
		return nil, failed(tool, domain.CodeInternal, nil, fmt.Sprintf("its answer has more than %d variables", w.limits.keys))
	}
	vars := make(map[string]any, len(out.Variables))
	for name, value := range out.Variables {
		if len(value) > w.limits.valueBytes || len(name) > w.limits.valueBytes {
			return nil, failed(tool, domain.CodeInternal, nil, fmt.Sprintf("its variable %.64q exceeds %d bytes", name, w.limits.valueBytes))
		}
		var v any
		if err := json.Unmarshal(value, &v); err != nil {
			return nil, failed(tool, domain.CodeInternal, err, `its answer is not {"variables": {...}}`)
		}
		vars[name] = v
	}
	return vars, nil
}
