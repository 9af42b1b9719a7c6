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
	"strconv"
	"time"

	"focal/domain"
	"focal/ports"
)

// maxResponseBytes bounds a tool's answer; variables are small values.
const maxResponseBytes = 1 << 20

// Webhook invokes tools by POSTing JSON to their URL:
//
//	request:  {"message": "...", "variables": {...}, "rule_id": "...", "session_id": "...", "tenant_id": "..."}
//	response: {"variables": {"name": value, ...}}
//
// The caller's context carries the tool's timeout.
type Webhook struct {
	client *http.Client
}

var _ ports.ToolInvoker = (*Webhook)(nil)

// NewWebhook returns an invoker using client (nil: a client with sane
// transport limits and no overall timeout, since each call has its own).
func NewWebhook(client *http.Client) *Webhook {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}}
	}
	return &Webhook{client: client}
}

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

// InvokeTool implements ports.ToolInvoker.
func (w *Webhook) InvokeTool(ctx context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "tool input cannot be encoded")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tool.URL, bytes.NewReader(body))
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "tool URL is invalid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, domain.WrapError(domain.CodeTimeout, err, fmt.Sprintf("tool %s did not answer in time", tool.ID))
		}
		return nil, domain.WrapError(domain.CodeInternal, err, fmt.Sprintf("tool %s could not be reached", tool.ID))
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		se := &StatusError{Status: res.StatusCode}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
			se.RetryAfter = time.Duration(s) * time.Second
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBytes))
		return nil, domain.WrapError(domain.CodeInternal, se, fmt.Sprintf("tool %s answered HTTP %d", tool.ID, res.StatusCode))
	}
	var out struct {
		Variables map[string]any `json:"variables"`
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, fmt.Sprintf("tool %s answer could not be read", tool.ID))
	}
	if len(raw) > maxResponseBytes {
		return nil, domain.Errorf(domain.CodeInternal, "tool %s answer exceeds %d bytes", tool.ID, maxResponseBytes)
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Variables == nil {
		if err == nil {
			err = errors.New(`no "variables" object`)
		}
		return nil, domain.WrapError(domain.CodeInternal, err, fmt.Sprintf(`tool %s answer is not {"variables": {...}}`, tool.ID))
	}
	return out.Variables, nil
}
