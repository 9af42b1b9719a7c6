package llm

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns an HTTP client for model providers: connect (dial
// and TLS handshake) bounded by connect, no overall timeout because a
// stream lasts as long as its context allows, and pooled keep-alive
// connections so a turn does not pay a handshake.
func NewHTTPClient(connect time.Duration) *http.Client {
	if connect <= 0 {
		connect = 5 * time.Second
	}
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   connect,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}
