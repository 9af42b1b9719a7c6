package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	httpapi "focal/adapters/http"
)

func signToken() (string, error) {
	return httpapi.SignToken(secret, httpapi.TokenRequest{TenantID: demoTenant, Tier: httpapi.TierEnterprise,
		Roles: []string{"admin"}, TTL: 2 * time.Hour}, time.Now())
}

// streamCall is one POST /v1/chat/stream (or, plain, POST /v1/chat) as a
// client sees it.
type streamCall struct {
	user, key, message string
	plain              bool
	// running is done when a call started by inFlight has ended.
	running sync.WaitGroup

	status     int
	code       string    // of an error answer or error event
	outcome    string    // "unknown" for an unconfirmed commit
	turnID     string    // from the event ids, the done event or the error
	answered   time.Time // when the status line came
	firstToken time.Time
	last       string // the type of the last event
	ended      time.Time
	err        error
}

func newStreamCall(user, key, message string) *streamCall {
	return &streamCall{user: user, key: key, message: message}
}

var callClient = &http.Client{Timeout: 3 * time.Minute}

func (s *streamCall) body() []byte {
	b, _ := json.Marshal(map[string]any{"agent_id": demoAgent, "channel": "web", "user_channel_id": s.user, "message": s.message})
	return b
}

// run sends the call; started, when not nil, is called once: at the first
// token, or when the call ended without one.
func (s *streamCall) run(ctx context.Context, base, token string, started func()) {
	once := sync.OnceFunc(func() {
		if started != nil {
			started()
		}
	})
	defer once()
	defer func() { s.ended = time.Now() }()
	path := "/v1/chat/stream"
	if s.plain {
		path = "/v1/chat"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(s.body()))
	if err != nil {
		s.err = err
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if s.key != "" {
		req.Header.Set("Idempotency-Key", s.key)
	}
	res, err := callClient.Do(req)
	if err != nil {
		s.err = err
		return
	}
	defer res.Body.Close()
	s.status, s.answered = res.StatusCode, time.Now()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		raw, _ := io.ReadAll(res.Body)
		s.readJSON(raw)
		return
	}
	s.readEvents(res.Body, once)
}

// readJSON reads a whole answer: a turn or an error body.
func (s *streamCall) readJSON(raw []byte) {
	var body struct {
		TurnID string `json:"turn_id"`
		Error  struct {
			Code    string `json:"code"`
			Outcome string `json:"outcome"`
			TurnID  string `json:"turn_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		s.err = fmt.Errorf("unreadable answer %d: %.200s", s.status, raw)
		return
	}
	if s.status == http.StatusOK {
		s.turnID, s.last = body.TurnID, "done"
		return
	}
	s.code, s.outcome, s.turnID = body.Error.Code, body.Error.Outcome, body.Error.TurnID
}

// readEvents reads a stream to its end.
func (s *streamCall) readEvents(r io.Reader, started func()) {
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 4<<20)
	var event, data string
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:") && s.turnID == "":
			s.turnID, _, _ = strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "id:")), ":")
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		case line == "" && event != "":
			s.last = event
			switch event {
			case "token":
				if s.firstToken.IsZero() {
					s.firstToken = time.Now()
					started()
				}
			case "error":
				var e struct{ Code, Outcome string }
				_ = json.Unmarshal([]byte(data), &e)
				s.code, s.outcome = e.Code, e.Outcome
			case "done":
				var d struct {
					TurnID string `json:"turn_id"`
				}
				_ = json.Unmarshal([]byte(data), &d)
				s.turnID = d.TurnID
			}
			event, data = "", ""
		}
	}
	if err := lines.Err(); err != nil {
		s.err = err
	}
}

// done reports whether the call ended with its turn.
func (s *streamCall) done() bool {
	return s.err == nil && s.status == http.StatusOK && s.last == "done"
}

func (s *streamCall) describe() string {
	return fmt.Sprintf("status %d, last event %q, code %q, outcome %q, err %v", s.status, s.last, s.code, s.outcome, s.err)
}

// resolve sends the same request (same key) again until it ends with its
// turn, or until bound; it returns the call that did.
func resolve(ctx context.Context, base, token string, first *streamCall, bound time.Duration) (*streamCall, error) {
	deadline := time.Now().Add(bound)
	for {
		s := &streamCall{user: first.user, key: first.key, message: first.message, plain: first.plain}
		s.run(ctx, base, token, nil)
		if s.done() {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return s, fmt.Errorf("%s: not resolved within %s: %s", first.user, bound, s.describe())
		}
		// The answer was retryable (409 in progress or busy after the
		// server's own wait, 503): the server said when to come back.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}
