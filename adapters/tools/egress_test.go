package tools

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// egressAllowed is the allow-list egressCases are judged under.
var egressAllowed = []string{"10.0.0.7", "127.0.0.1:18555", "[fd00::7]:8443"}

// egressCases are tool URLs and what Refuses says of them under
// egressAllowed: kind is part of the reason, empty for a URL it lets be.
// literal marks the URLs whose fate the dialer decides without DNS, which
// the dialer agreement test dials.
var egressCases = []struct {
	url     string
	kind    string
	literal bool
}{
	{"http://169.254.169.254/latest/meta-data", "169.254.169.254 is link-local (169.254.0.0/16, cloud metadata)", true},
	{"http://[::ffff:127.0.0.1]:18555/", "::ffff:127.0.0.1 is loopback (127.0.0.0/8), as the IPv4-mapped form of 127.0.0.1", true},
	{"http://[fd00::1]/", "fd00::1 is unique local (fc00::/7)", true},
	{"http://100.64.0.1/", "100.64.0.1 is carrier-grade NAT (100.64.0.0/10)", true},
	{"http://localhost:9000/", "localhost is loopback (a localhost name, RFC 6761)", true},
	{"http://10.1.2.3:8080/hook", "10.1.2.3 is private (RFC 1918)", true},
	{"http://127.0.0.1:18556/", "127.0.0.1 is loopback (127.0.0.0/8)", true},
	{"http://[::1]/", "::1 is loopback (::1)", true},
	{"http://0.0.0.0/", "0.0.0.0 is unspecified", true},
	{"http://[fe80::1%25eth0]/", "fe80::1%eth0 is link-local (fe80::/10)", true},
	{"http://[64:ff9b::a9fe:a9fe]/", "as the NAT64 form of 169.254.169.254", true},
	{"http://192.0.2.10/", "documentation (192.0.2.0/24)", true},
	{"https://user:hunter2@169.254.169.254/", "169.254.169.254 is link-local", true},
	// The transport converts an international name to ASCII before
	// dialling, which makes an address of this one.
	{"http://１２７．０．０．１/", "127.0.0.1 is loopback (127.0.0.0/8)", true},
	// Localhost names: loopback, or no such name (RFC 6761).
	{"http://api.localhost/", "api.localhost is loopback (a localhost name, RFC 6761)", false},
	{"http://LOCALHOST./", "LOCALHOST. is loopback", false},
	// Public addresses.
	{"http://8.8.8.8/", "", true},
	{"https://[2606:4700::1111]/hook", "", true},
	{"http://[::ffff:8.8.8.8]/", "", true},
	{"http://[64:ff9b::808:808]/", "", true},
	// On the allow-list, as host or as host:port (any case).
	{"http://10.0.0.7:8080/", "", true},
	{"http://127.0.0.1:18555/crm", "", true},
	{"http://[FD00::7]:8443/", "", true},
	// Names are judged at call time: DNS can change.
	{"https://tools.example.com/lookup", "", false},
	// Addresses to the C library's resolver, names to Go's: not certain.
	{"http://2130706433/", "", false},
	{"http://0x7f000001/", "", false},
	{"http://127.1/", "", false},
	{"http://0177.0.0.1/", "", false},
	{"http://127.0.0.1./", "", false},
	// Not a URL: validation refuses it, lint has nothing to add.
	{"http://[::1/", "", false},
}

func TestEgressRefusesAddressesToolsMayNotReach(t *testing.T) {
	egress, err := NewEgress(egressAllowed)
	require.NoError(t, err)
	for _, c := range egressCases {
		why, refused := egress.Refuses(c.url)
		assert.Equal(t, c.kind != "", refused, c.url)
		if c.kind == "" {
			continue
		}
		assert.Contains(t, why, c.kind, c.url)
		assert.Contains(t, why, "FOCAL_TOOLS_ALLOWED_HOSTS", "the reason says how an operator exempts it")
		assert.NotContains(t, why, "hunter2", "the reason names the host, not the URL")
	}
}

// errWouldConnect stands in for a connection the dialer lets be made.
var errWouldConnect = errors.New("the dialer would connect")

// Refuses and the dialer agree on every URL whose fate needs no DNS: the
// dialer, reached through the HTTP transport as tool calls reach it, is
// stopped right before each connection it would make.
func TestEgressAgreesWithTheDialer(t *testing.T) {
	egress, err := NewEgress(egressAllowed)
	require.NoError(t, err)
	d := newGuardedDialer(egress.allowed, time.Second)
	check := d.checked.Control
	d.checked.Control = func(network, address string, c syscall.RawConn) error {
		if err := check(network, address, c); err != nil {
			return err
		}
		return errWouldConnect
	}
	d.plain.Control = func(string, string, syscall.RawConn) error { return errWouldConnect }
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	for _, c := range egressCases {
		if !c.literal {
			continue
		}
		res, err := client.Get(c.url)
		if err == nil {
			_ = res.Body.Close()
		}
		dialerRefused := errors.Is(err, errAddressNotAllowed)
		require.True(t, dialerRefused || errors.Is(err, errWouldConnect), "%s: %v", c.url, err)
		_, refused := egress.Refuses(c.url)
		assert.Equal(t, dialerRefused, refused, c.url)
	}
}
