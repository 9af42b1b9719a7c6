package hostile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// closedWithin reads conn until the server closes it and reports how long
// that took; it fails the test if the connection is still open after
// bound.
func closedWithin(t *testing.T, conn net.Conn, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(start.Add(bound)))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held the connection after %s", bound)
	}
	return time.Since(start)
}

// A client trickling a body, one byte every 100 ms with no token, has its
// connection closed at FOCAL_HTTP_READ_TIMEOUT; so does one with a token.
func TestSlowBodiesAreCutAtTheReadTimeout(t *testing.T) {
	const readTimeout = time.Second
	app := harness.Start(t, map[string]string{
		"FOCAL_HTTP_READ_TIMEOUT": readTimeout.String(), "FOCAL_HTTP_READ_HEADER_TIMEOUT": "500ms",
	})
	for name, token := range map[string]string{"no token": "", "a tenant's token": harness.Token(t, harness.DemoTenant)} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(app.URL, "http://"))
			require.NoError(t, err)
			defer conn.Close()
			start := time.Now()
			head := "POST /v1/chat HTTP/1.1\r\nHost: focal\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n"
			if token != "" {
				head += "Authorization: Bearer " + token + "\r\n"
			}
			_, err = io.WriteString(conn, head+"\r\n{")
			require.NoError(t, err)
			stop := make(chan struct{})
			defer close(stop)
			go func() { // 200,000 bytes at this pace would take 5.5 hours
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			closedWithin(t, conn, 15*time.Second)
			held := time.Since(start)
			t.Logf("connection closed after %s", held)
			assert.GreaterOrEqual(t, held, readTimeout-100*time.Millisecond, "held until the read deadline, not refused outright")
		})
	}
}

// A stream whose client stops reading is cut when a write has waited
// FOCAL_HTTP_WRITE_TIMEOUT; the turn is recorded interrupted and the
// session's lease is released, so the session's next message is answered.
func TestStalledStreamReadersAreCutAtTheWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	// The model streams 8 MB, more than the socket buffers between Focal
	// and a client that has stopped reading hold (4 MB on the server's
	// side at most, here).
	deltas := make([]string, 4000)
	for i := range deltas {
		deltas[i] = strings.Repeat("word ", 400)
	}
	fake := fakellm.New(fakellm.WithResponder(func(fakellm.Request) fakellm.Reply { return fakellm.Reply{Deltas: deltas} }))
	fake.Start()
	t.Cleanup(fake.Close)
	bundle := filepath.Join(t.TempDir(), "plain.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(fmt.Sprintf("agent: {id: %s, tenant_id: %s, name: plain}\n",
		harness.DemoAgent, harness.DemoTenant)), 0o600))
	app := harness.Start(t, map[string]string{
		"FOCAL_BOOTSTRAP_BUNDLE": bundle, "FOCAL_HTTP_WRITE_TIMEOUT": writeTimeout.String(),
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "fake", "FOCAL_LLM_BASE_URL": fake.URL() + "/v1",
		"FOCAL_LLM_API_KEY": "test-key", "FOCAL_LLM_MAX_RETRIES": "0",
	})
	token := harness.Token(t, harness.DemoTenant)

	// A client with a fixed 64 KiB receive buffer that reads the first
	// event and then nothing more.
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
	}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(app.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	body, _ := json.Marshal(harness.ChatBody("stalled", "tell me everything"))
	_, err = fmt.Fprintf(conn, "POST /v1/chat/stream HTTP/1.1\r\nHost: focal\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		token, len(body), body)
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "200")
	var turnID string
	for turnID == "" {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if rest, ok := strings.CutPrefix(line, "id:"); ok {
			turnID, _, _ = strings.Cut(strings.TrimSpace(rest), ":")
		}
	}
	stalled := time.Now() // from here on the client reads nothing

	// The turn ends interrupted once a write has waited the deadline.
	var turn struct {
		Status       string `json:"status"`
		SessionID    string `json:"session_id"`
		SessionAfter struct {
			TurnCount int `json:"turn_count"`
		} `json:"session_after"`
	}
	require.Eventually(t, func() bool {
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: token})
		if res.Status != http.StatusOK {
			return false
		}
		res.JSON(t, &turn)
		return true
	}, 30*time.Second, 50*time.Millisecond, "the turn was never recorded")
	cut := time.Since(stalled)
	t.Logf("turn recorded %s after the client stopped reading", cut)
	assert.Equal(t, "interrupted", turn.Status)
	assert.GreaterOrEqual(t, cut, writeTimeout, "writes went on until the deadline")

	// The server closed the connection.
	closedWithin(t, conn, 10*time.Second)

	// The lease is released: the same session answers its next message.
	next := harness.ChatBody("stalled", "and now?")
	next["session_id"] = turn.SessionID
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: next})
	require.Equal(t, http.StatusOK, res.Status, "%.300s", res.Body)
}

// Credentials in a model's base URL and in tool URLs never reach a log
// line, at any level, even when the calls fail and are retried.
func TestURLCredentialsStayOutOfLogs(t *testing.T) {
	closed := closedAddr(t)
	bundle := filepath.Join(t.TempDir(), "tool.yaml")
	require.NoError(t, os.WriteFile(bundle, []byte(fmt.Sprintf(`
agent: {id: %s, tenant_id: %s, name: tools}
rules:
  - {id: status, condition: where is my order; order status, action: Look it up., tool_ids: [crm]}
tools:
  - {id: crm, url: "http://bot:TOOLPASS@%s/hook?api_key=TOOLKEY&region=eu"}
`, harness.DemoAgent, harness.DemoTenant, closed)), 0o600))
	app, logs := harness.StartObserved(t, map[string]string{
		"FOCAL_BOOTSTRAP_BUNDLE":    bundle,
		"FOCAL_TOOLS_ALLOWED_HOSTS": closed,
		"FOCAL_LLM_PROVIDER":        "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "sk-MODELKEY",
		"FOCAL_LLM_BASE_URL":    "http://" + closed + "/v1?api-key=BASEKEY&sig=BASESIG",
		"FOCAL_LLM_MAX_RETRIES": "1", "FOCAL_LLM_RETRY_BASE": "10ms", "FOCAL_LLM_RETRY_MAX": "20ms",
	})
	token := harness.Token(t, harness.DemoTenant)
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token,
		Body: harness.ChatBody("logs", "where is my order status?")})
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "the model is unreachable: %s", res.Body)
	noSecretsLogged(t, logs, []string{"TOOLPASS", "TOOLKEY", "BASEKEY", "BASESIG", "MODELKEY"})
}

// At FOCAL_HTTP_MAX_CONNECTIONS open connections, the next one waits to be
// accepted until one of them closes.
func TestConnectionsAreCapped(t *testing.T) {
	app := harness.Start(t, map[string]string{"FOCAL_HTTP_MAX_CONNECTIONS": "2"})
	addr := strings.TrimPrefix(app.URL, "http://")
	probe := func(conn net.Conn) {
		_, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: focal\r\n\r\n")
		require.NoError(t, err)
	}
	answered := func(conn net.Conn, within time.Duration) bool {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(within)))
		line, err := bufio.NewReader(conn).ReadString('\n')
		return err == nil && strings.Contains(line, "200")
	}
	var open []net.Conn
	for range 2 { // two kept-alive connections fill the cap
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		probe(c)
		require.True(t, answered(c, 5*time.Second))
		open = append(open, c)
	}
	third, err := net.Dial("tcp", addr) // the kernel completes it; Focal does not accept it
	require.NoError(t, err)
	defer third.Close()
	probe(third)
	assert.False(t, answered(third, 300*time.Millisecond), "a third connection is not served while two are open")
	require.NoError(t, open[0].Close())
	assert.True(t, answered(third, 5*time.Second), "it is served once one closes")
}
