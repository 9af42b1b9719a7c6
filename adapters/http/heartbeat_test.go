package httpapi

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pingRecorder is a stream's response writer that counts pings; while
// hold is open each write waits on it, as a write to a client that
// stopped reading does.
type pingRecorder struct {
	gin.ResponseWriter
	entered chan<- *pingRecorder
	hold    <-chan struct{}

	mu    sync.Mutex
	pings int
}

func (w *pingRecorder) Write(b []byte) (int, error) {
	w.entered <- w
	<-w.hold
	w.mu.Lock()
	defer w.mu.Unlock()
	if string(b) == ": ping\n\n" {
		w.pings++
	}
	return len(b), nil
}

func (w *pingRecorder) Flush() {}

func (w *pingRecorder) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pings
}

// Many idle streams' pings are written by a bounded number of goroutines:
// with every write blocked (clients that stopped reading), at most
// maxPingers writes are under way and the goroutine keeping time waits
// for a writer instead of starting more. Once the writes go through,
// every stream is pinged, again each interval, and none after its stop.
//
// The bound is docs/architecture.md's "at most 32 writers", written as a
// literal: 32 writes get under way (fewer fails waiting for them) and a
// 33rd does not (more fails the check that none is).
func TestHeartbeatsOfManyStreamsUseBoundedWriters(t *testing.T) {
	const writers = 32 // docs/architecture.md
	const streams = 3 * writers
	h := newHeartbeats(10 * time.Millisecond)
	entered := make(chan *pingRecorder, 16*streams)
	hold := make(chan struct{})
	before := runtime.NumGoroutine()
	recs := make([]*pingRecorder, streams)
	ss := make([]*sseStream, streams)
	for i := range ss {
		recs[i] = &pingRecorder{entered: entered, hold: hold}
		ss[i] = &sseStream{w: recs[i]}
		h.start(ss[i])
	}
	for i := range writers {
		select {
		case <-entered:
		case <-time.After(time.Minute):
			t.Fatalf("waited a minute for ping write %d of %d under way at once", i+1, writers)
		}
	}
	waitFor(t, "the heartbeats' timekeeper to wait for a free writer, or one ping too many", func() bool {
		if len(entered) > 0 {
			return true
		}
		for _, g := range strings.Split(goroutines(), "\n\n") {
			if strings.Contains(g, "(*heartbeats).run(") && strings.Contains(g, "[chan send") {
				return true
			}
		}
		return false
	})
	assert.Empty(t, entered, "pings under way beyond the %d writers", writers)
	assert.LessOrEqual(t, runtime.NumGoroutine()-before, writers+1, "goroutines for %d streams' pings", streams)

	close(hold)
	waitFor(t, "every stream pinged twice", func() bool {
		for _, r := range recs {
			if r.count() < 2 {
				return false
			}
		}
		return true
	})
	for _, s := range ss {
		h.stop(s)
	}
	after := make([]int, streams)
	for i, r := range recs {
		after[i] = r.count()
	}
	waitFor(t, "the heartbeats' goroutines to end with the last stream", func() bool {
		return !strings.Contains(goroutines(), "(*heartbeats).run(") && !strings.Contains(goroutines(), "adapters/http.pinger(")
	})
	for i, r := range recs {
		require.Equal(t, after[i], r.count(), "a ping after stop returned")
	}
}

// goroutines is the stacks of all goroutines.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}
