package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	httpapi "focal/adapters/http"
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
// error statuses become *apiError.
func (c *apiClient) do(method, path, contentType string, body []byte, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
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
			return nil, &apiError{Status: res.StatusCode, Code: "HTTP_ERROR", Message: strings.TrimSpace(string(raw))}
		}
		body.Error.Status = res.StatusCode
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
