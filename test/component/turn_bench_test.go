package component

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
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
	if err := tb.try(user, message); err != nil {
		b.Fatal(err)
	}
}

// try runs one POST /v1/chat: an error unless it answered 200.
func (tb *turnBench) try(user, message string) error {
	body := fmt.Appendf(nil, `{"agent_id":%q,"channel":"bench","user_channel_id":%q,"message":%q}`,
		harness.DemoAgent, user, message)
	req := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tb.token)
	rec := httptest.NewRecorder()
	tb.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("POST /v1/chat: %d %s", rec.Code, rec.Body)
	}
	return nil
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

// BenchmarkChatTurnParallel is BenchmarkChatTurn's returning users' turns
// from every core at once: with -cpu 2 it counts what the state every
// turn writes (counters, locks, caches) costs when both cores write it,
// as under load. Each goroutine has users of its own, so no turn waits
// for another's session.
func BenchmarkChatTurnParallel(b *testing.B) {
	tb := newTurnBench(b)
	const users = benchUsers / 4
	groups := runtime.GOMAXPROCS(0)
	for g := range groups {
		for u := range users {
			for k := range benchHistory {
				tb.turn(b, fmt.Sprintf("ret-%d-%d", g, u), benchMessages[(u+k)%len(benchMessages)])
			}
		}
	}
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1)-1) % groups
		for i := 0; pb.Next(); i++ {
			if err := tb.try(fmt.Sprintf("ret-%d-%d", g, i%users), benchMessages[i%len(benchMessages)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// processCPU is the CPU time the process has used, user and system, in
// nanoseconds: what a turn costs whatever else the machine runs, which
// stretches the wall time of a parallel benchmark but not this.
func processCPU() int64 {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return u.Utime.Nano() + u.Stime.Nano()
}
