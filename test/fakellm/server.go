package fakellm

import (
	"net/http/httptest"
	"sync"
	"time"
)

// Server is a fake OpenAI + Anthropic endpoint; it is an http.Handler and
// safe for concurrent use.
type Server struct {
	mu        sync.Mutex
	responder Responder
	defaults  Reply
	model     string
	embedDim  int

	queue     []Reply
	failLeft  int
	failReply Reply
	records   []*record
	// changed is closed and replaced whenever a record changes, so waiters
	// can block without polling.
	changed chan struct{}
	seq     int

	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	// recorded, when set (by tests of this package), is called with each
	// request once it is recorded, before its handler goes on.
	recorded func(Request)
}

// record is the mutable, server-side state behind a Request snapshot.
type record struct {
	req       Request
	cancelled bool
	cancelAt  time.Time
	finished  bool
	hijacked  bool
	stalled   bool // blocked in a stall right now
}

// New returns a Server; call Start for a real listener or mount it yourself.
func New(opts ...Option) *Server {
	s := &Server{
		responder: Echo,
		model:     "fake-model",
		embedDim:  64,
		changed:   make(chan struct{}),
		closing:   make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Start serves on a fresh httptest listener and returns its base URL
// (without /v1); calling it again returns the same URL.
func (s *Server) Start() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		s.ts = httptest.NewServer(s)
	}
	return s.ts.URL
}

// URL returns the base URL given by Start, or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Close releases stalled and delayed handlers, then stops the listener
// started by Start (if any). It is safe to call more than once.
func (s *Server) Close() {
	// Handlers must be unblocked first: httptest.Server.Close waits for
	// active requests, and a stall without StallFor would wait forever.
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	ts := s.ts
	s.mu.Unlock()
	if ts != nil {
		ts.Close()
	}
}

// SetResponder replaces the fallback reply function.
func (s *Server) SetResponder(fn Responder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = fn
}

// SetDefaults replaces the fault/timing defaults applied to every reply.
func (s *Server) SetDefaults(r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaults = r
}

// Enqueue appends scripted replies; each chat request consumes one, in the
// order the requests are recorded (Request.Index), before the Responder is
// consulted. A scripted reply without Text or Deltas
// takes its content from the Responder.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// FailNext makes the next n requests on any endpoint answer with r, ahead of
// the queue; a reply with no fault set becomes a 503.
func (s *Server) FailNext(n int, r Reply) {
	if !r.hasFault() {
		r.Status = 503
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft = n
	s.failReply = r
}

// Reset forgets recorded requests, queued replies and pending failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = nil
	s.queue = nil
	s.failLeft = 0
	s.notifyLocked()
}

// Count returns how many requests have been received; each has taken its
// reply.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// CountAPI returns how many requests hit the given endpoint family.
func (s *Server) CountAPI(api API) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.records {
		if r.req.API == api {
			n++
		}
	}
	return n
}

// Requests returns snapshots of all recorded requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.records))
	for i, r := range s.records {
		out[i] = r.snapshot()
	}
	return out
}

// Request returns a snapshot of the i-th recorded request (0-based).
func (s *Server) Request(i int) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.records) {
		return Request{}, false
	}
	return s.records[i].snapshot(), true
}

// Last returns a snapshot of the most recent request.
func (s *Server) Last() (Request, bool) {
	s.mu.Lock()
	n := len(s.records)
	s.mu.Unlock()
	return s.Request(n - 1)
}

// WaitForRequests blocks until at least n requests arrived or timeout passed.
// Each request it counts has taken its reply (a pending failure, a queued
// reply, or the Responder and defaults in force when it arrived), so a
// test may queue the next reply or move a clock as soon as it returns.
func (s *Server) WaitForRequests(n int, timeout time.Duration) bool {
	return s.waitFor(timeout, func() bool { return len(s.records) >= n })
}

// WaitFinished blocks until the handler for request i has returned.
func (s *Server) WaitFinished(i int, timeout time.Duration) bool {
	return s.waitFor(timeout, func() bool {
		return i < len(s.records) && s.records[i].finished
	})
}

// WaitCancelled blocks until request i is seen cancelled and returns how long
// after its start that happened; false if it finished uncancelled or timed out.
func (s *Server) WaitCancelled(i int, timeout time.Duration) (time.Duration, bool) {
	var after time.Duration
	var ok bool
	s.waitFor(timeout, func() bool {
		if i >= len(s.records) {
			return false
		}
		r := s.records[i]
		if r.cancelled {
			after, ok = r.cancelAt.Sub(r.req.Start), true
		}
		return r.cancelled || r.finished
	})
	return after, ok
}

// WaitStalled blocks until request i is held by a stall (StallAfter):
// everything before the stall point has been written and nothing after it
// will be until the stall ends. False if it finished first or timed out.
func (s *Server) WaitStalled(i int, timeout time.Duration) bool {
	stalled := false
	s.waitFor(timeout, func() bool {
		if i >= len(s.records) {
			return false
		}
		r := s.records[i]
		stalled = r.stalled
		return r.stalled || r.finished
	})
	return stalled
}

// waitFor evaluates cond under the lock each time a record changes.
func (s *Server) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		done := cond()
		ch := s.changed
		s.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			return cond()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (r *record) snapshot() Request {
	q := r.req
	q.Finished = r.finished
	q.Cancelled = r.cancelled
	if r.cancelled {
		q.CancelledAfter = r.cancelAt.Sub(r.req.Start)
	}
	return q
}

// addRecord stores req and returns its record; unless the request is
// answered at once, it also takes the request's reply in the same step (see
// takeLocked), so a request that Count, Requests or WaitForRequests show has its
// reply: nothing a test does after seeing it can hand that request another
// script or give its script to a later one, and request i takes the i-th
// queued reply.
func (s *Server) addRecord(req Request, atOnce, chat bool) (*record, pick) {
	s.mu.Lock()
	req.Index = len(s.records)
	rec := &record{req: req}
	s.records = append(s.records, rec)
	var p pick
	if !atOnce {
		p = s.takeLocked(chat)
	}
	s.notifyLocked()
	recorded := s.recorded
	s.mu.Unlock()
	if recorded != nil {
		recorded(rec.req)
	}
	return rec, p
}

// markCancelled notes the first time the client was seen gone; cancellations
// after the handler returned are the server's own cleanup and are ignored.
func (s *Server) markCancelled(rec *record, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.finished || rec.hijacked || rec.cancelled {
		return
	}
	rec.cancelled, rec.cancelAt = true, at
	s.notifyLocked()
}

func (s *Server) markFinished(rec *record, ctxErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// net/http cancels the request context only after ServeHTTP returns, so a
	// context already dead here was killed by the client.
	if ctxErr != nil && !rec.cancelled && !rec.hijacked {
		rec.cancelled, rec.cancelAt = true, time.Now()
	}
	rec.finished = true
	s.notifyLocked()
}

func (s *Server) markStalled(rec *record, stalled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.stalled = stalled
	s.notifyLocked()
}

func (s *Server) markHijacked(rec *record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.hijacked = true
}

// nextID returns a per-server sequence number for response ids.
func (s *Server) nextID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

// pick is what a request's reply is made of, taken when it is recorded.
type pick struct {
	reply     Reply
	scripted  bool // a pending failure or a queued reply
	responder Responder
	defaults  Reply
}

// takeLocked takes a request's reply: a pending failure, else (for chat)
// the first queued reply, else none; the Responder and defaults in force
// now answer it, whatever a test sets later.
func (s *Server) takeLocked(chat bool) pick {
	p := pick{scripted: true, responder: s.responder, defaults: s.defaults}
	switch {
	case s.failLeft > 0:
		s.failLeft--
		p.reply = s.failReply
	case chat && len(s.queue) > 0:
		p.reply = s.queue[0]
		s.queue = s.queue[1:]
	default:
		p.scripted = false
	}
	return p
}

// resolve makes the reply for a request from what it took: a scripted
// reply, with the Responder's content when it has none, or the
// Responder's; the defaults fill unset fault fields.
func resolve(req Request, p pick, chat bool) Reply {
	r := p.reply
	if chat && p.responder != nil && (!p.scripted || (r.Text == "" && r.Deltas == nil && r.Status < 400)) {
		// Called outside the lock: responders are user code and may block.
		base := p.responder(req)
		if p.scripted {
			r.Text, r.Deltas = base.Text, base.Deltas
		} else {
			r = base
		}
	}
	return r.withDefaults(p.defaults)
}
