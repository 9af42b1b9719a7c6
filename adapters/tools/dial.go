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

// blockedPrefixes are the address ranges no tool may reach unless its host
// is on the operator's allow-list: everything that is not a global unicast
// address (IANA special-purpose registries), beside what netip's own
// predicates already cover.
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and the broadcast address
		"64:ff9b:1::/48",  // local-use IPv4/IPv6 translation
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID, ...)
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
		"::ffff:0:0:0/96", // IPv4-translated
		"::/96",           // IPv4-compatible (deprecated; some stacks route it to IPv4)
		"5f00::/16",       // segment routing
		"3fff::/20",       // documentation
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Ranges whose addresses embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// publicAddress reports whether a tool may connect to ip: a global unicast
// address outside every special-purpose range. Addresses that embed an IPv4
// address (IPv4-mapped, NAT64, 6to4) are judged by it.
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return publicAddress(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return publicAddress(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
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
