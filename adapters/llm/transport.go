package llm

import (
	"net"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3/packages/ssestream"
)

// NewHTTPClient returns an HTTP client for model providers: connect (dial
// and TLS handshake) bounded by connect, no overall timeout because a
// stream lasts as long as its context allows, and pooled keep-alive
// connections so a turn does not pay a handshake.
func NewHTTPClient(connect time.Duration) *http.Client {
	return newHTTPClient(connect, false)
}

// NewH2CClient is NewHTTPClient speaking HTTP/2 only: without TLS (h2c,
// prior knowledge) to http:// servers, negotiated over TLS to https://
// ones. Concurrent streams then share a few connections instead of holding
// one each, with its buffers and its two transport goroutines: what a
// waiting stream costs shrinks to the HTTP/2 stream's own state.
func NewH2CClient(connect time.Duration) *http.Client {
	return newHTTPClient(connect, true)
}

func newHTTPClient(connect time.Duration, h2c bool) *http.Client {
	if connect <= 0 {
		connect = 5 * time.Second
	}
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   connect,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if h2c {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP2(true)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: t}
}

// openStream opens a model's event stream: post, the SDK call that
// encodes the request and waits for the response headers, runs on a
// goroutine of its own that ends with it (onFreshStack); the events are
// read by an sseDecoder, which holds no buffer while it waits.
func openStream[T any](post func(raw **http.Response) error) *ssestream.Stream[T] {
	var raw *http.Response
	err := onFreshStack(func() error { return post(&raw) })
	if raw == nil || raw.Body == nil {
		return ssestream.NewStream[T](nil, err) // as ssestream.NewDecoder does
	}
	return ssestream.NewStream[T](newSSEDecoder(raw.Body), err)
}

// onFreshStack runs open on a goroutine of its own that ends with it.
// The SDK call runs deep (reflective encoding), and a goroutine's stack
// stays at the largest size it ever grew to; the caller then waits for the
// model's tokens, often for seconds, on a stack that never grew so far
// (make bench measures the stacks of idle streams).
func onFreshStack(open func() error) error {
	opened := make(chan error, 1)
	go func() { opened <- open() }()
	return <-opened
}
