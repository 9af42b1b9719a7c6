package llm

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

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
