// Package hostile imports, as a tenant out to harm others would, the
// policies and requests that once crashed, probed or starved the service,
// against the real application over HTTP, and checks that each is refused
// with a 4xx or fails only that tenant's own turn, while another tenant
// keeps being answered and the process's heap stays bounded.
package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// Tenants: the demo tenant is the bystander whose turns must keep
// answering; the others attack.
const (
	hostileTenant = "0badbad0-0000-4000-8000-000000000001"
	tenantA       = "0a0a0a0a-0000-4000-8000-00000000000a"
	tenantB       = "0b0b0b0b-0000-4000-8000-00000000000b"
)

// heapBound is the most the process's heap objects may take at any moment
// of the suite, hostile imports included.
const heapBound = 512 << 20

// heapWatch samples the heap's live objects until stopped and keeps the
// highest value seen.
type heapWatch struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func watchHeap() *heapWatch {
	h := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapWatch) finish() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// bystander chats with the demo agent as the demo tenant, turn after
// turn, until stopped, and records every answer that is not the one the
// demo agent gives.
type bystander struct {
	app    *harness.App
	token  string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	turns  int
	errors []string
	worst  time.Duration
}

// bystanderReply is the demo agent's answer to the bystander's message.
const bystanderReply = "I can help you return an item. What is your order number? It starts with AC-."

func startBystander(t *testing.T, app *harness.App) *bystander {
	b := &bystander{app: app, token: harness.Token(t, harness.DemoTenant), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *bystander) run() {
	defer close(b.done)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-b.stop:
			return
		default:
		}
		body, _ := json.Marshal(harness.ChatBody(fmt.Sprintf("bystander-%d", i), "Hi there! I want to return my jacket"))
		req, _ := http.NewRequest(http.MethodPost, b.app.URL+"/v1/chat", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+b.token)
		start := time.Now()
		res, err := client.Do(req)
		took := time.Since(start)
		var problem string
		if err != nil {
			problem = err.Error()
		} else {
			var got struct {
				Response string `json:"response"`
			}
			raw, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &got) != nil || got.Response != bystanderReply {
				problem = fmt.Sprintf("HTTP %d: %s", res.StatusCode, raw)
			}
		}
		b.mu.Lock()
		b.turns++
		b.worst = max(b.worst, took)
		if problem != "" {
			b.errors = append(b.errors, problem)
		}
		b.mu.Unlock()
	}
}

// finish stops the bystander and checks that every turn it took was
// answered right, each within a generous bound.
func (b *bystander) finish(t *testing.T) {
	t.Helper()
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Empty(t, b.errors, "the bystander tenant's turns failed")
	require.Greater(t, b.turns, 10, "the bystander kept chatting throughout")
	require.Less(t, b.worst, 10*time.Second, "no bystander turn waited for the attacks")
	t.Logf("bystander: %d turns answered right, slowest %s", b.turns, b.worst)
}

// target is a listener standing for an internal service: it counts the
// connections it accepts.
type target struct {
	ln       net.Listener
	accepted atomic.Int32
	sentinel chan struct{}
}

func listenTarget(t *testing.T) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tg := &target{ln: ln, sentinel: make(chan struct{}, 1)}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 8)
			n, _ := c.Read(buf)
			_ = c.Close()
			if string(buf[:n]) == "SENTINEL" {
				tg.sentinel <- struct{}{}
				continue
			}
			tg.accepted.Add(1)
		}
	}()
	return tg
}

// contacted reports how many connections reached the target before now:
// it connects itself and, connections being accepted in order, counts once
// its own has been seen.
func (tg *target) contacted(t *testing.T) int32 {
	t.Helper()
	c, err := net.Dial("tcp", tg.ln.Addr().String())
	require.NoError(t, err)
	_, _ = c.Write([]byte("SENTINEL"))
	_ = c.Close()
	<-tg.sentinel
	return tg.accepted.Load()
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// toolServer is a tenant's own tool webhook, with every misbehaviour the
// suite needs, one per path.
func toolServer(t *testing.T, redirectTo string) (addr string, calls *sync.Map) {
	t.Helper()
	calls = &sync.Map{}
	count := func(key string) {
		n, _ := calls.LoadOrStore(key, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		count("big")
		_, _ = io.WriteString(w, `{"variables":{"blob":"`+strings.Repeat("x", 1<<20)+`"}}`)
	})
	mux.HandleFunc("/many", func(w http.ResponseWriter, _ *http.Request) {
		count("many")
		vars := make([]string, 5000)
		for i := range vars {
			vars[i] = fmt.Sprintf(`"v%d":%d`, i, i)
		}
		_, _ = io.WriteString(w, `{"variables":{`+strings.Join(vars, ",")+`}}`)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		count("redirect")
		http.Redirect(w, r, "http://"+redirectTo+"/latest/meta-data/iam/security-credentials/", http.StatusFound)
	})
	mux.HandleFunc("/crm", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			TenantID string `json:"tenant_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		count("crm " + in.TenantID)
		if in.TenantID == tenantB {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"variables":{"tier":"gold"}}`)
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, _ *http.Request) {
		count("flaky")
		w.WriteHeader(http.StatusBadGateway)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), calls
}

func callsTo(calls *sync.Map, key string) int32 {
	n, ok := calls.Load(key)
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

// api calls one app as one caller.
type api struct {
	t     *testing.T
	app   *harness.App
	token string
}

func (a api) do(method, path string, body any, headers ...string) *harness.Response {
	a.t.Helper()
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	return a.app.Do(a.t, harness.Request{Method: method, Path: path, Token: a.token, Body: body, Headers: h})
}

// errorBody is the error body every 4xx has.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"details"`
	} `json:"error"`
}

func decodeError(t *testing.T, res *harness.Response) errorBody {
	t.Helper()
	var e errorBody
	res.JSON(t, &e)
	return e
}
