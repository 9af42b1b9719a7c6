package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/spf13/cobra"

	httpapi "focal/adapters/http"
	"focal/adapters/resilience"
)

// demoTenant is the demo bundle's tenant: the default for local tokens.
const demoTenant = "550e8400-e29b-41d4-a716-446655440000"

// apiClient talks to a running Focal over its HTTP API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags are the connection flags every API command shares.
type clientFlags struct {
	url, token, tenant string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "url", envOr("FOCAL_URL", "http://localhost:8080"), "Focal base URL ($FOCAL_URL)")
	f.registerAuth(cmd)
}

// registerAuth registers the flags that say who the client is; a command
// whose --url means more than where to connect (focal test's, which
// switches it to a deployment) registers its own --url.
func (f *clientFlags) registerAuth(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.token, "token", os.Getenv("FOCAL_TOKEN"), "bearer token ($FOCAL_TOKEN); without one, a token is signed with $FOCAL_JWT_SECRET")
	cmd.Flags().StringVar(&f.tenant, "tenant", envOr("FOCAL_TENANT", demoTenant), "tenant for a locally signed token ($FOCAL_TENANT)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// client returns an API client, signing a short-lived admin token with
// FOCAL_JWT_SECRET when none was given (development convenience).
func (f *clientFlags) client() (*apiClient, error) {
	tok := f.token
	if tok == "" {
		secret := os.Getenv("FOCAL_JWT_SECRET")
		if secret == "" {
			return nil, errors.New("no token: pass --token or set FOCAL_TOKEN (or FOCAL_JWT_SECRET to sign one locally)")
		}
		var err error
		tok, err = httpapi.SignToken(secret, httpapi.TokenRequest{TenantID: f.tenant, Subject: "focal-cli",
			Roles: []string{httpapi.RoleAdmin}, Tier: httpapi.TierPro, TTL: time.Hour}, time.Now())
		if err != nil {
			return nil, err
		}
	}
	return &apiClient{base: strings.TrimRight(f.url, "/"), token: tok, http: &http.Client{}}, nil
}

// apiError is an error response of the API.
type apiError struct {
	Status  int
	Code    string
	Message string
	Details []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
	// RetryAfter is the response's Retry-After, 0 without one: the
	// service sets it only where trying again later is the remedy.
	RetryAfter time.Duration `json:"-"`
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d): %s", e.Code, e.Status, e.Message)
	for _, d := range e.Details {
		fmt.Fprintf(&b, "\n  %s: %s", d.Field, d.Message)
	}
	return b.String()
}

// do sends a request and returns the response for the caller to read;
// error statuses become *apiError. It is send for commands that make one
// request and end, whose deadline is the user's patience.
func (c *apiClient) do(method, path, contentType string, body []byte, header map[string]string) (*http.Response, error) {
	return c.send(context.Background(), method, path, contentType, body, header)
}

// send is do under ctx.
func (c *apiClient) send(ctx context.Context, method, path, contentType string, body []byte, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 400 {
		defer res.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		var body struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(raw, &body) != nil || body.Error.Code == "" {
			body.Error = apiError{Code: "HTTP_ERROR", Message: strings.TrimSpace(string(raw))}
		}
		body.Error.Status = res.StatusCode
		body.Error.RetryAfter = resilience.ParseRetryAfter(res.Header)
		return nil, &body.Error
	}
	return res, nil
}

// getJSON fetches path and decodes the JSON answer into v.
func (c *apiClient) getJSON(path string, v any) error {
	res, err := c.do(http.MethodGet, path, "", nil, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return json.NewDecoder(res.Body).Decode(v)
}

// Retries of a request the service asked to repeat later: at most
// retryTries attempts, all within retryWithin. A Retry-After that would
// end past that bound (a tenant's monthly budget spent) fails at once:
// waiting it out would not make the command succeed.
const (
	retryTries  = 6
	retryWithin = 2 * time.Minute
)

// doRetrying is send that tries again, after the response's Retry-After
// or else after an exponential backoff, when the service answers 429 or
// 503, or any error with a Retry-After (which the service sets only where
// a retry is the remedy: a draining instance's 504, a request key or
// session still busy). Every attempt sends the same header, so a caller
// that sends an Idempotency-Key gets, on a retry, the answer of an
// attempt whose reply was lost rather than a second run.
func (c *apiClient) doRetrying(ctx context.Context, method, path string, body []byte, header map[string]string) (*http.Response, error) {
	attempts := 0
	res, err := backoff.Retry(ctx, func() (*http.Response, error) {
		attempts++
		res, err := c.send(ctx, method, path, "application/json", body, header)
		var ae *apiError
		switch {
		case err == nil:
			return res, nil
		case !errors.As(err, &ae) || !retryable(ae):
			return nil, backoff.Permanent(err)
		case ae.RetryAfter > 0:
			return nil, &retryLater{err: err, after: &backoff.RetryAfterError{Duration: ae.RetryAfter}}
		}
		return nil, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 10 * time.Second}), backoff.WithMaxTries(retryTries), backoff.WithMaxElapsedTime(retryWithin))
	if err != nil && attempts > 1 {
		return nil, fmt.Errorf("%w (given up after %d attempts)", err, attempts)
	}
	return res, err
}

// retryable reports whether the service asked for the request again later.
func retryable(e *apiError) bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable || e.RetryAfter > 0
}

// retryLater is an error the service gave a Retry-After: backoff waits
// that long (the *backoff.RetryAfterError it wraps), and the error reads
// as the service's if no retry succeeds.
type retryLater struct {
	err   error
	after *backoff.RetryAfterError
}

func (e *retryLater) Error() string   { return e.err.Error() }
func (e *retryLater) Unwrap() []error { return []error{e.err, e.after} }
