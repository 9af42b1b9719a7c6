package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"focal/application/convtest"
)

// toolStubServer serves the conversation test files' stand-ins for the
// bundle's webhooks on a loopback port of its own. The bundle's stubbed
// tools are pointed at it before the import, so their calls cross real
// HTTP (signatures, idempotency keys, output validation) as in production.
type toolStubServer struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	inForce map[string]convtest.ToolStub
}

func startToolStubs() (*toolStubServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tool stand-ins: %w", err)
	}
	s := &toolStubServer{ln: ln}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	// Serve ends when close is called; were it to fail before, every
	// stubbed call fails and so do the conversations that expect it.
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// handler routes each tool's calls to its stand-in: POST /tools/{id}.
func (s *toolStubServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /tools/{id}", s.answer)
	return mux
}

// host is what FOCAL_TOOLS_ALLOWED_HOSTS must name so the tools may reach
// the stand-ins on loopback.
func (s *toolStubServer) host() string { return s.ln.Addr().String() }

func (s *toolStubServer) url(toolID string) string {
	return "http://" + s.host() + "/tools/" + url.PathEscape(toolID)
}

// use puts a conversation's stand-ins in force (convtest.ToolStubs).
func (s *toolStubServer) use(stubs map[string]convtest.ToolStub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inForce = stubs
}

func (s *toolStubServer) answer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	st, ok := s.inForce[id]
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, fmt.Sprintf("tool %q has no stand-in in this conversation", id), http.StatusNotFound)
	case st.Status != 0:
		http.Error(w, "stand-in failure", st.Status)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"variables": st.Variables})
	}
}

func (s *toolStubServer) close() { _ = s.srv.Close() }

// pointToolsAt rewrites the bundle so each tool in ids calls the stand-in
// server; the other tools keep their addresses. A stubbed id the bundle
// lacks is an error: the test would otherwise check nothing.
func pointToolsAt(bundle []byte, ids []string, urlOf func(string) string) ([]byte, error) {
	if len(ids) == 0 {
		return bundle, nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal(bundle, &doc); err != nil {
		return nil, err
	}
	tools, _ := doc["tools"].([]any)
	found := map[string]bool{}
	for _, t := range tools {
		tool, ok := t.(map[string]any)
		if !ok {
			continue
		}
		if id, _ := tool["id"].(string); slices.Contains(ids, id) {
			tool["url"] = urlOf(id)
			found[id] = true
		}
	}
	for _, id := range ids {
		if !found[id] {
			return nil, fmt.Errorf("tools.%s: the conversation tests stand in for a tool the bundle does not declare", id)
		}
	}
	return yaml.Marshal(doc)
}
