package component

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/fx"

	"focal/test/harness"
)

// benchHistory is how many turns each returning user has before the
// measured one, as in the load bench (test/load historyTurns).
const benchHistory = 10

// benchUsers is how many returning users the measured turns rotate over.
const benchUsers = 64

// benchMessages are the measured turns' messages: a greeting, the demo
// scenario's opening and a question answered by a template.
var benchMessages = []string{
	"hello there",
	"I want to return my order",
	"where is your nearest store?",
	"my order number is 12345",
}

// turnBench drives whole chat turns through the production router
// (middleware, auth, decoding, the use case, the memory store, the
// offline model, the JSON render) in process, without a socket: what it
// measures is Focal's own work per turn.
type turnBench struct {
	handler http.Handler
	token   string
}

func newTurnBench(b *testing.B) *turnBench {
	b.Helper()
	var handler http.Handler
	harness.Start(b, nil, fx.Populate(&handler))
	return &turnBench{handler: handler, token: harness.Token(b, harness.DemoTenant)}
}

// turn runs one POST /v1/chat and fails the benchmark unless it answered 200.
func (tb *turnBench) turn(b *testing.B, user, message string) {
	body := fmt.Appendf(nil, `{"agent_id":%q,"channel":"bench","user_channel_id":%q,"message":%q}`,
		harness.DemoAgent, user, message)
	req := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tb.token)
	rec := httptest.NewRecorder()
	tb.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("POST /v1/chat: %d %s", rec.Code, rec.Body)
	}
}

// measured is turn for the timed loop only: callgrind's --toggle-collect
// names it to count the measured turns without the set-up (the policy's
// training, the seeding turns), whose instructions vary from run to run.
//
//go:noinline
func (tb *turnBench) measured(b *testing.B, user, message string) { tb.turn(b, user, message) }

// BenchmarkChatTurn is one whole chat turn of a returning user (a session
// with benchHistory turns) and of a new user (no session yet).
func BenchmarkChatTurn(b *testing.B) {
	b.Run("returning", func(b *testing.B) {
		tb := newTurnBench(b)
		for u := range benchUsers {
			for k := range benchHistory {
				tb.turn(b, fmt.Sprintf("ret-%d", u), benchMessages[(u+k)%len(benchMessages)])
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			tb.measured(b, fmt.Sprintf("ret-%d", i%benchUsers), benchMessages[i%len(benchMessages)])
		}
	})
	b.Run("new", func(b *testing.B) {
		tb := newTurnBench(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			tb.turn(b, fmt.Sprintf("new-%d", i), benchMessages[i%len(benchMessages)])
		}
	})
}
