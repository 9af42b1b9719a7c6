package httpapi

import (
	"sync"
	"time"
)

// maxPingers is how many pings are written at once: a ping whose write
// blocks (a client that stopped reading, until the write timeout) holds
// one writer, and the others go on.
const maxPingers = 32

// pingFrame is the comment line a heartbeat writes.
var pingFrame = []byte(": ping\n\n")

// heartbeats writes a comment line to every open stream each interval, so
// proxies keep idle streams open. One goroutine keeps time for all of
// them and hands the pings to at most maxPingers writers: a timer per
// stream ran each ping on a goroutine of its own, and timers set by
// streams that opened together fire together, so thousands of goroutines
// with fresh stacks were started at once, memory the process kept (make
// bench, idle streams: stacks in use rose 5 KiB per stream over two idle
// minutes). The goroutines run only while a stream is open.
type heartbeats struct {
	every time.Duration

	mu sync.Mutex
	// head…tail are the open streams by when their next ping is due:
	// every stream waits the same interval, so appending keeps the order.
	head, tail *sseStream
	running    bool
}

// beat is a stream's place among the heartbeats; guarded by their mu.
type beat struct {
	due        time.Time
	prev, next *sseStream
	linked     bool
}

func newHeartbeats(every time.Duration) *heartbeats { return &heartbeats{every: every} }

// start pings s every interval from now until stop.
func (h *heartbeats) start(s *sseStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.push(s, time.Now().Add(h.every))
	if !h.running {
		h.running = true
		go h.run(make(chan *sseStream))
	}
}

// stop ends s's pings; once it returns nothing more is written to s.
func (h *heartbeats) stop(s *sseStream) {
	h.mu.Lock()
	h.unlink(s)
	h.mu.Unlock()
	s.mu.Lock() // waits for a ping being written
	s.closed = true
	s.mu.Unlock()
}

// run sends each stream that is due to a writer, starting writers while
// all are busy, up to maxPingers, until no stream is open; closing work
// then ends the writers.
func (h *heartbeats) run(work chan *sseStream) {
	defer close(work)
	var sleep *time.Timer
	writers := 0
	for {
		s, wait, open := h.due()
		switch {
		case !open:
			return
		case s == nil:
			if sleep == nil {
				sleep = time.NewTimer(wait)
			} else {
				sleep.Reset(wait)
			}
			<-sleep.C
			continue
		}
		select {
		case work <- s:
		default:
			if writers < maxPingers {
				writers++
				go pinger(s, work)
			} else {
				work <- s
			}
		}
	}
}

// due takes the first stream if its ping is due, moving it to the back
// for its next one; otherwise how long until it is. open is false, and
// run ends, when no stream is left.
func (h *heartbeats) due() (s *sseStream, wait time.Duration, open bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s = h.head
	if s == nil {
		h.running = false
		return nil, 0, false
	}
	now := time.Now()
	if wait = s.beat.due.Sub(now); wait > 0 {
		return nil, wait, true
	}
	h.unlink(s)
	h.push(s, now.Add(h.every))
	return s, 0, true
}

func (h *heartbeats) push(s *sseStream, due time.Time) {
	s.beat = beat{due: due, prev: h.tail, linked: true}
	if h.tail != nil {
		h.tail.beat.next = s
	} else {
		h.head = s
	}
	h.tail = s
}

func (h *heartbeats) unlink(s *sseStream) {
	b := &s.beat
	if !b.linked {
		return
	}
	if b.prev != nil {
		b.prev.beat.next = b.next
	} else {
		h.head = b.next
	}
	if b.next != nil {
		b.next.beat.prev = b.prev
	} else {
		h.tail = b.prev
	}
	*b = beat{}
}

// pinger pings s, then every stream it is handed until work is closed.
func pinger(s *sseStream, work <-chan *sseStream) {
	s.ping()
	for s := range work {
		s.ping()
	}
}

// ping writes a comment line, unless the stream is writing an event
// (then it is not idle) or has ended.
func (s *sseStream) ping() {
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	_ = s.write(pingFrame)
}
