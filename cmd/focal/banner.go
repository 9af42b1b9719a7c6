package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	httpapi "focal/adapters/http"
	"focal/bootstrap"
)

// startBanner is what `focal serve --banner` prints once the listener is
// open: everything a developer needs for a first request, in one screen.
type startBanner struct {
	cfg    bootstrap.Config
	addr   string // the listener's address
	loaded *bootstrap.StartupBundle
	now    time.Time
}

// bannerTokenTTL is how long the banner's token is valid.
const bannerTokenTTL = 24 * time.Hour

func (b startBanner) write(w io.Writer) error {
	base := "http://" + reachable(b.addr)
	model := b.cfg.LLM.Provider
	if b.cfg.LLM.Model != "" {
		model += " " + b.cfg.LLM.Model
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nFocal is serving on %s  (store %s, model %s)\n", base, b.cfg.Store.Kind, model)
	p := b.loaded.Policy
	if p == nil {
		out.WriteString("No agent was loaded at start: set FOCAL_BOOTSTRAP_BUNDLE, or import one with `focal agents import`.\n")
		_, err := io.WriteString(w, out.String())
		return err
	}
	fmt.Fprintf(&out, "Agent   %s  %s  v%d: %s, %s, %s, %s\n", p.Agent.ID, p.Agent.Name, p.Agent.Version,
		count(len(p.Rules), "rule"), count(len(p.Scenarios), "scenario"), count(len(p.Templates), "template"), count(len(p.Tools), "tool"))
	fmt.Fprintf(&out, "Tenant  %s\n", b.loaded.Tenant)
	token, err := b.token()
	if err != nil {
		fmt.Fprintf(&out, "No token: %v.\n", err)
		_, werr := io.WriteString(w, out.String())
		return werr
	}
	fmt.Fprintf(&out, "\nBearer token (admin, %gh):\n%s\n", bannerTokenTTL.Hours(), token)
	body, err := json.Marshal(map[string]string{
		"agent_id": p.Agent.ID, "channel": "webchat", "user_channel_id": "demo-user", "message": "Hello!",
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(&out, "\nTry it:\ncurl -s %s/v1/chat -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '%s'\n",
		base, token, body)
	fmt.Fprintf(&out, "\nConsole: %s/console#token=%s\n\n", base, token)
	_, err = io.WriteString(w, out.String())
	return err
}

// token signs a development token for the start-up tenant, which needs the
// HS256 secret: with public-key verification only, tokens come from the
// operator's identity provider.
func (b startBanner) token() (string, error) {
	if b.cfg.Auth.Secret == "" {
		return "", errors.New("FOCAL_JWT_SECRET is not set, so tokens come from your identity provider")
	}
	return httpapi.SignToken(b.cfg.Auth.Secret, httpapi.TokenRequest{
		TenantID: b.loaded.Tenant, Subject: "dev", Roles: []string{"admin"}, Tier: httpapi.TierPro,
		TTL: bannerTokenTTL, Issuer: b.cfg.Auth.Issuer, Audience: b.cfg.Auth.Audience,
	}, b.now)
}

// reachable turns a listen address into one a client on this machine can
// dial: an unspecified host (":8080", "[::]:8080") becomes localhost.
func reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
