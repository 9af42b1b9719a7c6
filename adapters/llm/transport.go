package llm

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
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
// read by an sseDecoder, which holds no buffer while it waits, and the
// response's headers are let go.
func openStream[T any](post func(raw **http.Response) error) *ssestream.Stream[T] {
	var raw *http.Response
	err := onFreshStack(func() error { return post(&raw) })
	if raw == nil || raw.Body == nil {
		return ssestream.NewStream[T](nil, err) // as ssestream.NewDecoder does
	}
	if err == nil {
		// The transport keeps the response until the stream ends, and
		// nothing reads its headers again: an error status and its
		// Retry-After were read before post returned.
		raw.Header = nil
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

// releaseRequestBody is SDK middleware that lets a request's body go once
// it is sent. The HTTP transport keeps a stream's request until the stream
// ends, and with it the encoded prompt (system prompt and history, often
// many KiB) and the SDK's function to encode it again: the body is dropped
// once read to its end or closed, and the rewind function (the transport's
// own retries before a response use it) once the response has come.
func releaseRequestBody(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return next(req)
	}
	body, sent := &releasingBody{}, req.Body
	body.rc.Store(&sent)
	req.Body = body
	var rewind *rewinder
	if req.GetBody != nil {
		rewind = &rewinder{}
		get := req.GetBody
		rewind.get.Store(&get)
		req.GetBody = rewind.getBody
	}
	res, err := next(req)
	if rewind != nil {
		rewind.get.Store(nil)
	}
	return res, err
}

// releasingBody reads rc and forgets it at its end or when closed.
type releasingBody struct {
	rc atomic.Pointer[io.ReadCloser]
}

func (b *releasingBody) Read(p []byte) (int, error) {
	rc := b.rc.Load()
	if rc == nil {
		return 0, io.EOF
	}
	n, err := (*rc).Read(p)
	if errors.Is(err, io.EOF) && b.rc.CompareAndSwap(rc, nil) {
		_ = (*rc).Close()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	if rc := b.rc.Swap(nil); rc != nil {
		return (*rc).Close()
	}
	return nil
}

// errBodyReleased is a rewind asked for after the response came.
var errBodyReleased = errors.New("the request body was released once the response came")

// rewinder calls get until it is dropped.
type rewinder struct {
	get atomic.Pointer[func() (io.ReadCloser, error)]
}

func (r *rewinder) getBody() (io.ReadCloser, error) {
	if get := r.get.Load(); get != nil {
		return (*get)()
	}
	return nil, errBodyReleased
}
