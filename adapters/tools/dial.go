package tools

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// errAddressNotAllowed refuses a connection to an address that is not a
// public one. Tool URLs are written by tenants; without this check a tool
// could reach the service's own loopback, the cloud metadata endpoint or
// the private network it runs in, and return what it read into the chat.
var errAddressNotAllowed = errors.New("address not allowed for tools")

// blockedRanges are the address ranges no tool may reach unless its host
// is on the operator's allow-list: everything that is not a global unicast
// address (IANA special-purpose registries), beside what netip's own
// predicates already cover. kind names the range in a lint warning.
var blockedRanges = func() []blockedRange {
	var out []blockedRange
	for _, r := range [][2]string{
		{"0.0.0.0/8", `"this network" (0.0.0.0/8)`},
		{"100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"},
		{"192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"},
		{"192.0.2.0/24", "documentation (192.0.2.0/24)"},
		{"198.18.0.0/15", "benchmarking (198.18.0.0/15)"},
		{"198.51.100.0/24", "documentation (198.51.100.0/24)"},
		{"203.0.113.0/24", "documentation (203.0.113.0/24)"},
		{"240.0.0.0/4", "reserved (240.0.0.0/4, with the broadcast address)"},
		{"64:ff9b:1::/48", "local-use IPv4/IPv6 translation (64:ff9b:1::/48)"},
		{"100::/64", "discard-only (100::/64)"},
		{"2001::/23", "IETF protocol assignments (2001::/23: Teredo, ORCHID, ...)"},
		{"2001:db8::/32", "documentation (2001:db8::/32)"},
		{"fec0::/10", "site-local (fec0::/10, deprecated)"},
		{"::ffff:0:0:0/96", "IPv4-translated (::ffff:0:0:0/96)"},
		// Some stacks route an IPv4-compatible address to its IPv4 one.
		{"::/96", "IPv4-compatible (::/96, deprecated)"},
		{"5f00::/16", "segment routing (5f00::/16)"},
		{"3fff::/20", "documentation (3fff::/20)"},
	} {
		out = append(out, blockedRange{netip.MustParsePrefix(r[0]), r[1]})
	}
	return out
}()

// blockedRange is one range of blockedRanges.
type blockedRange struct {
	prefix netip.Prefix
	kind   string
}

// Ranges whose addresses embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// publicAddress reports whether a tool may connect to ip: a global unicast
// address outside every special-purpose range.
func publicAddress(ip netip.Addr) bool { return refusal(ip) == "" }

// refusal names the kind of address ip is when no tool may connect to it
// ("loopback (127.0.0.0/8)"), and is empty for a public one. It is the one
// judgement of an address: the dialer's before every connection, and
// Egress.Refuses' when a tool is written. Addresses that embed an IPv4
// address (IPv4-mapped, NAT64, 6to4) are judged by it.
func refusal(ip netip.Addr) string {
	if ip.Is4In6() {
		return embedded("IPv4-mapped", ip.Unmap())
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if kind := specialKind(ip); kind != "" {
		return kind
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	if !ip.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}

// specialKind names what netip's predicates find ip to be, "" for none.
func specialKind(ip netip.Addr) string {
	v4 := ip.Is4()
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback() && v4:
		return "loopback (127.0.0.0/8)"
	case ip.IsLoopback():
		return "loopback (::1)"
	case ip.IsLinkLocalUnicast() && v4:
		return "link-local (169.254.0.0/16, cloud metadata)"
	case ip.IsLinkLocalUnicast():
		return "link-local (fe80::/10)"
	case ip.IsMulticast(): // interface- and link-local multicast too
		return "multicast"
	case ip.IsPrivate() && v4:
		return "private (RFC 1918)"
	case ip.IsPrivate():
		return "unique local (fc00::/7)"
	}
	return ""
}

// embedded judges an IPv6 address by the IPv4 address it embeds.
func embedded(form string, v4 netip.Addr) string {
	if why := refusal(v4); why != "" {
		return fmt.Sprintf("%s, as the %s form of %s", why, form, v4)
	}
	return ""
}

// allowList is the operator's list of tool hosts exempt from the address
// check: "host" allows every port of it, "host:port" that port only.
type allowList map[string]bool

func newAllowList(entries []string) (allowList, error) {
	a := allowList{}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, "/@?#") || strings.Contains(e, "://") {
			return nil, fmt.Errorf("FOCAL_TOOLS_ALLOWED_HOSTS: %q must be host or host:port", e)
		}
		a[e] = true
	}
	return a, nil
}

func (a allowList) allows(host, port string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	return a[host] || a[net.JoinHostPort(host, port)]
}

// guardedDialer dials tool hosts. A host on the allow-list is dialled as
// is; any other name is resolved by the dialer and every address it tries
// is checked right before the connection is made, so neither a name that
// resolves to a private address nor one whose answer changes between a
// check and the dial (DNS rebinding) gets through.
type guardedDialer struct {
	allowed allowList
	plain   net.Dialer
	checked net.Dialer
}

func newGuardedDialer(allowed allowList, timeout time.Duration) *guardedDialer {
	d := &guardedDialer{allowed: allowed}
	d.plain = net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	d.checked = d.plain
	d.checked.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !publicAddress(ap.Addr()) {
			return errAddressNotAllowed
		}
		return nil
	}
	return d
}

// DialContext is the transport's dial function.
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if d.allowed.allows(host, port) {
		return d.plain.DialContext(ctx, network, addr)
	}
	return d.checked.DialContext(ctx, network, addr)
}
