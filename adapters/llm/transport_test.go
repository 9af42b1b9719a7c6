package llm

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

// With FOCAL_LLM_H2C, concurrent streams to a plain-http model server that
// accepts HTTP/2 travel as HTTP/2 streams over one connection.
func TestH2CClientMultiplexesStreamsOverOneConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	protos, conns := map[string]int{}, 0
	model := fakellm.New(fakellm.WithDefaults(fakellm.Reply{FirstTokenDelay: 50 * time.Millisecond}))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			protos[r.Proto]++
			mu.Unlock()
			model.ServeHTTP(w, r)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				mu.Lock()
				conns++
				mu.Unlock()
			}
		},
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	m, err := NewOpenAI(OpenAIConfig{BaseURL: "http://" + ln.Addr().String() + "/v1", APIKey: "sk-test-key-123456", Model: "gpt-test",
		HTTPClient: NewH2CClient(time.Second)})
	require.NoError(t, err)
	_, _, err = collect(t.Context(), m, chatRequest("open the connection"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			deltas, _, err := collect(t.Context(), m, chatRequest("hello"))
			require.NoError(t, err)
			require.NotEmpty(t, deltas)
		})
	}
	wg.Wait()
	require.Equal(t, map[string]int{"HTTP/2.0": 9}, protos)
	require.Equal(t, 1, conns, "eight concurrent streams share the connection the first opened")
}

// promptRequest is a request whose body is a 1 MiB prompt, as the SDKs make
// it (a body and a function to make it again), and a weak pointer to the
// prompt: the test holds nothing else of it.
func promptRequest(t *testing.T) (*http.Request, weak.Pointer[[1 << 20]byte]) {
	prompt := new([1 << 20]byte)
	prompt[0] = '{'
	getBody := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(prompt[:])), nil }
	body, _ := getBody()
	req, err := http.NewRequest(http.MethodPost, "http://model.test/v1/chat/completions", body)
	require.NoError(t, err)
	req.GetBody = getBody
	return req, weak.Make(prompt)
}

// The transport keeps a stream's request until the stream ends; the prompt
// in its body is let go once sent, and the rewind the transport may need
// before a response works until the response came.
func TestASentPromptIsLetGoWhileTheStreamLasts(t *testing.T) {
	req, prompt := promptRequest(t)
	var kept *http.Request
	res, err := releaseRequestBody(req, func(r *http.Request) (*http.Response, error) {
		kept = r
		again, err := r.GetBody()
		require.NoError(t, err)
		n, err := io.Copy(io.Discard, again)
		require.NoError(t, err)
		require.EqualValues(t, 1<<20, n, "a rewind before the response reads the whole prompt")
		n, err = io.Copy(io.Discard, r.Body)
		require.EqualValues(t, 1<<20, n)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, err
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	_, err = kept.GetBody()
	require.ErrorIs(t, err, errBodyReleased)
	runtime.GC()
	require.Nil(t, prompt.Value(), "the prompt is garbage though the request is still held")
	n, err := kept.Body.Read(make([]byte, 8))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
	runtime.KeepAlive(kept)
}

// A body closed before its end (the transport gave up sending it) is let
// go too, and closed once.
func TestAPromptClosedBeforeItsEndIsLetGo(t *testing.T) {
	req, prompt := promptRequest(t)
	closes := 0
	inner := req.Body
	req.Body = struct {
		io.Reader
		io.Closer
	}{inner, closerFunc(func() error { closes++; return inner.Close() })}
	var kept *http.Request
	_, err := releaseRequestBody(req, func(r *http.Request) (*http.Response, error) {
		kept = r
		_, err := r.Body.Read(make([]byte, 10))
		require.NoError(t, err)
		require.NoError(t, r.Body.Close())
		require.NoError(t, r.Body.Close())
		return nil, errors.New("connection reset")
	})
	require.Error(t, err)
	require.Equal(t, 1, closes)
	req.Body = nil // the test's own reference
	runtime.GC()
	require.Nil(t, prompt.Value())
	runtime.KeepAlive(kept)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// The transport keeps a stream's response until the stream ends; its
// headers are let go once the stream is open, and its events still read.
func TestAnOpenStreamLetsTheResponseHeadersGo(t *testing.T) {
	requestID := []string{strings.Repeat("r", 4096)}
	headerGone := weak.Make(&requestID[0])
	var kept *http.Response
	stream := openStream[chatChunk](func(raw **http.Response) error {
		kept = &http.Response{StatusCode: http.StatusOK,
			Header: http.Header{"Content-Type": {"text/event-stream"}, "X-Request-Id": requestID},
			Body:   io.NopCloser(strings.NewReader("data: {\"model\":\"m\"}\n\ndata: [DONE]\n\n"))}
		*raw = kept
		return nil
	})
	requestID = nil
	runtime.GC()
	require.Nil(t, headerGone.Value(), "the headers are garbage though the response is still held")
	require.True(t, stream.Next())
	require.Equal(t, "m", stream.Current().Model)
	require.False(t, stream.Next())
	require.NoError(t, stream.Err())
	runtime.KeepAlive(kept)
}

// An error response keeps its headers: its Retry-After is read from them.
func TestAFailedOpenKeepsTheResponseHeaders(t *testing.T) {
	failed := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"3"}}, Body: http.NoBody}
	stream := openStream[chatChunk](func(raw **http.Response) error {
		*raw = failed
		return errors.New("429 Too Many Requests")
	})
	require.False(t, stream.Next())
	require.Error(t, stream.Err())
	require.Equal(t, "3", failed.Header.Get("Retry-After"))
}
