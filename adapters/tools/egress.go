package tools

import (
	"net/netip"
	"net/url"
	"strings"

	"golang.org/x/net/idna"

	"focal/ports"
)

// Egress is where this process lets tools connect: public addresses, and
// the hosts on the operator's allow-list (FOCAL_TOOLS_ALLOWED_HOSTS). The
// dialer enforces it on every call; Refuses judges a tool's URL when it is
// written, with the same ranges and the same allow-list.
type Egress struct {
	allowed allowList
}

var _ ports.ToolAddresses = (*Egress)(nil)

// NewEgress returns the egress of an allow-list of "host" or "host:port"
// entries, as FOCAL_TOOLS_ALLOWED_HOSTS gives them.
func NewEgress(allowedHosts []string) (*Egress, error) {
	allowed, err := newAllowList(allowedHosts)
	if err != nil {
		return nil, err
	}
	return &Egress{allowed: allowed}, nil
}

// Refuses implements ports.ToolAddresses: a URL is refused when the host
// the dialer would get is an address literal in a range refusal names, or
// a localhost name, and is not on the allow-list (as host or host:port).
//
// A name that needs resolving is never refused here. DNS can change
// between the write and any call, so only the call can judge it (the
// dialer checks every address it resolves to). That includes the numeric
// forms a C library reads as addresses ("2130706433", "0x7f000001",
// "127.1"): Go's own resolver asks DNS for them or finds no such host, the
// C library's (with cgo) reads 127.0.0.1, so which one runs decides.
func (e *Egress) Refuses(rawURL string) (why string, refused bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false // not a URL: validation says so
	}
	host, port := dialedHost(u), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if e.allowed.allows(host, port) {
		return "", false
	}
	const exempt = ", which tool calls may not reach unless an operator lists the host in FOCAL_TOOLS_ALLOWED_HOSTS"
	if ip, err := netip.ParseAddr(host); err == nil {
		if kind := refusal(ip); kind != "" {
			return host + " is " + kind + exempt, true
		}
		return "", false
	}
	if localhostName(host) {
		return host + " is loopback (a localhost name, RFC 6761)" + exempt, true
	}
	return "", false
}

// dialedHost is the host of u as the HTTP transport hands it to the
// dialer: a name that is not ASCII is converted first (IDNA), which can
// make an address literal of it ("１２７．０．０．１" is 127.0.0.1).
func dialedHost(u *url.URL) string {
	host := u.Hostname()
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			if ascii, err := idna.Lookup.ToASCII(host); err == nil {
				return ascii
			}
			return host
		}
	}
	return host
}

// localhostName reports whether host is "localhost" or a name under it,
// which RFC 6761 reserves for loopback: a resolver answers the loopback
// address or that there is no such name, never another address.
func localhostName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
