package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"focal/test/faultproxy"
)

// killed: SIGKILL while keyed and unkeyed streams are in flight, then a
// restart on the same database. Every keyed retry ends with the original
// turn or one fresh run, within twice the takeover delay of the kill; each
// probe's session takes its next turn within the takeover delay.
func (o *outages) killed(ctx context.Context, r *CaseResult) error {
	db, err := o.db(ctx, "kill")
	if err != nil {
		return err
	}
	env := o.env(o.server, db)
	first, err := serve(ctx, o.cfg.Binary, env, o.cfg.Log)
	if err != nil {
		return err
	}
	keyed, _, err := o.inFlight(ctx, first.url)
	if err != nil {
		first.kill()
		return err
	}
	first.kill()
	died := time.Now()
	second, err := serve(ctx, o.cfg.Binary, env, o.cfg.Log)
	if err != nil {
		return err
	}
	defer second.kill()
	return o.recovered(ctx, r, second.url, db, keyed, died, "the kill")
}

// unreachable: the store refuses and drops every connection for
// cfg.Outage while streams are in flight, then comes back, Focal running
// throughout.
func (o *outages) unreachable(ctx context.Context, r *CaseResult) error {
	proxy, err := o.startProxy()
	if err != nil {
		return err
	}
	defer func() { _ = proxy.Close() }()
	db, err := o.db(ctx, "cut")
	if err != nil {
		return err
	}
	p, err := serve(ctx, o.cfg.Binary, o.env(proxy.Addr(), db), o.cfg.Log)
	if err != nil {
		return err
	}
	defer p.kill()
	keyed, probes, err := o.inFlight(ctx, p.url)
	if err != nil {
		return err
	}
	proxy.Cut()
	select {
	case <-time.After(o.cfg.Outage):
	case <-ctx.Done():
		return ctx.Err()
	}
	proxy.Restore()
	back := time.Now()
	awaitEnded(append(keyed, probes...))
	r.Notes = append(r.Notes, fmt.Sprintf("store unreachable for %s; the streams in flight ended: %s", o.cfg.Outage,
		endings(append(keyed, probes...))))
	return o.recovered(ctx, r, p.url, db, keyed, back, "the store's return")
}

// recovered measures what follows a fault that ended at since: keyed
// retries until each resolves, the probes' sessions taking a new turn,
// and what the database holds.
func (o *outages) recovered(ctx context.Context, r *CaseResult, url, db string, keyed []*streamCall, since time.Time, what string) error {
	takeover := o.cfg.takeover()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest, slowestLock time.Duration
	var unresolved, original, fresh, locked int
	for _, s := range keyed {
		wg.Go(func() {
			got, err := resolve(ctx, url, o.token, s, 4*takeover)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unresolved++
				return
			}
			slowest = max(slowest, got.ended.Sub(since))
			if got.turnID == s.turnID {
				original++
			} else {
				fresh++
			}
		})
	}
	for i := range o.cfg.Users {
		wg.Go(func() {
			user := fmt.Sprintf("probe-%d", i)
			next := newStreamCall(user, "", shortTurn+" and now, "+user+"?")
			next.run(ctx, url, o.token, nil)
			mu.Lock()
			defer mu.Unlock()
			if next.firstToken.IsZero() {
				locked++
				return
			}
			// A stream answers 200 once its turn holds the lease.
			slowestLock = max(slowestLock, next.answered.Sub(since))
		})
	}
	wg.Wait()
	r.zero("keyed retries not resolved", unresolved)
	r.within("slowest keyed retry to resolve, from "+what, slowest, 2*takeover)
	r.Notes = append(r.Notes, fmt.Sprintf("%d retries answered with the original turn, %d ran once afresh", original, fresh))
	r.zero("sessions that took no new turn", locked)
	// Measured from outside: the request's own way in (authentication,
	// the policy, the lock's polling, the answer's way back) comes on top
	// of the lease's expiry; allow two seconds for it on a busy machine.
	r.within("longest a session stayed locked after "+what+" (until its next stream was answered 200; 2 s allowed for the request itself)",
		slowestLock, takeover+2*time.Second)
	twice, err := o.committedTwice(ctx, db)
	if err != nil {
		return err
	}
	r.zero("messages committed twice", twice)
	return nil
}

// frozen: the store hangs (commands arrive and take effect, replies are
// held) past the commit's deadline while keyed plain turns commit, then
// resumes. No committed turn is answered as failed, and no keyed retry
// records a message twice.
func (o *outages) frozen(ctx context.Context, r *CaseResult) error {
	proxy, err := o.startProxy()
	if err != nil {
		return err
	}
	defer func() { _ = proxy.Close() }()
	db, err := o.db(ctx, "freeze")
	if err != nil {
		return err
	}
	p, err := serve(ctx, o.cfg.Binary, o.env(proxy.Addr(), db), o.cfg.Log)
	if err != nil {
		return err
	}
	defer p.kill()
	calls, err := o.commitWhileFrozen(ctx, proxy, p.url)
	if err != nil {
		return err
	}
	completed, err := o.completed(ctx, db)
	if err != nil {
		return err
	}
	var reportedFailed, unknown, ok, stored int
	for _, c := range calls {
		if completed[c.message] > 0 {
			stored++
		}
		switch {
		case c.done():
			ok++
		case c.outcome == "unknown":
			unknown++
		case completed[c.message] > 0:
			reportedFailed++
		}
	}
	// How many commits the store took in spite of the hang says whether
	// the retries below meet a committed turn or run afresh.
	r.Notes = append(r.Notes, fmt.Sprintf("store hung for %s: %d answered with their turn, %d 503 outcome unknown, %d other errors; "+
		"%d of the %d turns stored completed before any retry", o.cfg.Freeze, ok, unknown, len(calls)-ok-unknown, stored, len(calls)))
	r.zero("committed turns answered as failed", reportedFailed)
	o.retryAll(ctx, r, p.url, calls)
	twice, err := o.committedTwice(ctx, db)
	if err != nil {
		return err
	}
	r.zero("messages committed twice", twice)
	return nil
}

// retryAll sends every call that did not end with its turn again, with its
// key, until it does.
func (o *outages) retryAll(ctx context.Context, r *CaseResult, url string, calls []*streamCall) {
	var unresolved, original, fresh int
	for _, c := range calls {
		if c.done() {
			continue
		}
		got, err := resolve(ctx, url, o.token, c, 4*o.cfg.takeover())
		switch {
		case err != nil:
			unresolved++
		case got.turnID == c.turnID:
			original++
		default:
			fresh++
		}
	}
	r.zero("keyed retries not resolved", unresolved)
	r.Notes = append(r.Notes, fmt.Sprintf("%d retries answered with the original turn, %d ran once afresh", original, fresh))
}

// commitWhileFrozen sends keyed plain turns and makes the store hang while
// they stream, until they reach their commit and past its deadline.
func (o *outages) commitWhileFrozen(ctx context.Context, proxy *faultproxy.Proxy, url string) ([]*streamCall, error) {
	// Keyed plain turns, sent at once: the freeze comes while the model
	// answers, so they reach their commit with the store hanging.
	calls := make([]*streamCall, 2*o.cfg.Users)
	var wg sync.WaitGroup
	for i := range calls {
		calls[i] = &streamCall{user: fmt.Sprintf("frozen-%d", i), key: fmt.Sprintf("frozen-key-%d", i),
			message: longTurn + " frozen " + fmt.Sprint(i), plain: true}
		wg.Go(func() { calls[i].run(ctx, url, o.token, nil) })
	}
	// Every turn reached the model (its lease and key are held, its
	// commit 3 s of model output away): the store hangs now.
	for range calls {
		select {
		case <-o.modelCalls:
		case <-time.After(time.Minute):
			return nil, fmt.Errorf("the turns did not reach the model")
		}
	}
	proxy.Freeze()
	select {
	case <-time.After(o.cfg.Freeze):
	case <-ctx.Done():
	}
	proxy.Thaw()
	wg.Wait()
	return calls, nil
}

// terminated: SIGTERM with a 1 s drain while long streams run. Each stream
// ends with an error or done event, the process exits cleanly, and after a
// restart every session takes a turn at once (no lease left behind).
func (o *outages) terminated(ctx context.Context, r *CaseResult) error {
	db, err := o.db(ctx, "term")
	if err != nil {
		return err
	}
	p, err := serve(ctx, o.cfg.Binary, o.env(o.server, db, "FOCAL_SHUTDOWN_DRAIN=1s"), o.cfg.Log)
	if err != nil {
		return err
	}
	keyed, probes, err := o.inFlight(ctx, p.url)
	if err != nil {
		p.kill()
		return err
	}
	took, exitErr := p.terminate(time.Minute)
	all := append(keyed, probes...)
	awaitEnded(all)
	var cut int
	for _, s := range all {
		if s.last != "done" && s.last != "error" {
			cut++
		}
	}
	r.zero("streams cut without a done or error event", cut)
	exitCode := 0
	if exitErr != nil {
		exitCode = 1
		r.Notes = append(r.Notes, "exit: "+exitErr.Error())
	}
	r.zero("unclean exits", exitCode)
	r.within("SIGTERM to exit", took, 1*time.Second+afterDrainBound)
	second, err := serve(ctx, o.cfg.Binary, o.env(o.server, db, "FOCAL_SESSION_LOCK_WAIT=100ms"), o.cfg.Log)
	if err != nil {
		return err
	}
	defer second.kill()
	busy := 0
	for _, s := range all {
		next := &streamCall{user: s.user, message: shortTurn + " after the restart, " + s.user, plain: true}
		next.run(ctx, second.url, o.token, nil)
		if !next.done() {
			busy++
		}
	}
	r.zero("sessions refusing a turn at once after the restart (100 ms lock wait)", busy)
	return nil
}

// afterDrainBound is what the service allows itself after the drain to
// record the turns it ended (bootstrap's afterDrain) plus the stores'
// closing.
const afterDrainBound = 25 * time.Second

// stalled: clients that stop reading their streams, as many as the open
// stream cap (two). Each is cut at the write deadline, its turn recorded
// interrupted, its lease released and its slot freed.
func (o *outages) stalled(ctx context.Context, r *CaseResult) error {
	// Two stalled clients fill a cap of two. More would only measure the
	// store: each stalled turn records the megabytes released before its
	// writes blocked (the server's socket buffer).
	const writeTimeout, n = time.Second, 2
	db, err := o.db(ctx, "stall")
	if err != nil {
		return err
	}
	p, err := serve(ctx, o.cfg.Binary, o.env(o.server, db, "FOCAL_HTTP_WRITE_TIMEOUT="+writeTimeout.String(),
		fmt.Sprintf("FOCAL_MAX_OPEN_STREAMS_PER_TENANT=%d", n)), o.cfg.Log)
	if err != nil {
		return err
	}
	defer p.kill()
	host := strings.TrimPrefix(p.url, "http://")
	var (
		slowest                    time.Duration
		unrecorded, notInterrupted int
		wg                         sync.WaitGroup
		mu                         sync.Mutex
	)
	for i := range n {
		wg.Go(func() {
			turnID, stalledAt, conn, err := stallStream(host, o.token, fmt.Sprintf("stalled-%d", i))
			if err != nil {
				mu.Lock()
				unrecorded++
				r.Notes = append(r.Notes, err.Error())
				mu.Unlock()
				return
			}
			defer conn.Close()
			status, at := awaitTurn(ctx, p.url, o.token, turnID, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case status == "":
				unrecorded++
			case status != "interrupted":
				notInterrupted++
			default:
				slowest = max(slowest, at.Sub(stalledAt))
			}
		})
	}
	wg.Wait()
	r.zero("stalled streams whose turn was not recorded", unrecorded)
	r.zero("stalled streams' turns not recorded interrupted", notInterrupted)
	// The record holds what the socket took before blocking (MBs): storing it is most of this.
	r.within(fmt.Sprintf("slowest stalled stream's turn recorded, from its client's last read (write deadline %s; its record holds ~4 MB)", writeTimeout),
		slowest, writeTimeout+30*time.Second)
	o.capFreed(ctx, r, p.url, n)
	return nil
}

// capFreed checks that every slot of the stream cap is free again and every
// stalled session answers: a client retrying as told (Retry-After) gets
// through within seconds.
func (o *outages) capFreed(ctx context.Context, r *CaseResult, url string, n int) {
	var refused int
	for i := range n {
		user := fmt.Sprintf("stalled-%d", i)
		next := &streamCall{user: user, message: shortTurn + " still there, " + user + "?"}
		last, err := resolve(ctx, url, o.token, next, 5*time.Second)
		if err != nil && last.code == "STORE_UNAVAILABLE" {
			// The store did not answer in time (the session's history
			// holds the ~4 MB stalled record, slow on FerretDB under
			// load): a slow store, not a stuck session, which would answer
			// busy. It gets the stalled record's own bound to answer.
			r.Notes = append(r.Notes, "slow store, given more time: "+err.Error())
			_, err = resolve(ctx, url, o.token, next, 30*time.Second)
		}
		if err != nil {
			refused++
			r.Notes = append(r.Notes, err.Error())
		}
	}
	r.zero(fmt.Sprintf("streams still refused 5 s after the stalled turns were recorded (cap %d, their sessions reused)", n), refused)
}

// stallStream opens a stream with a small receive buffer, reads its first
// event and then nothing more.
func stallStream(host, token, user string) (string, time.Time, net.Conn, error) {
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
	}}
	conn, err := dialer.Dial("tcp", host)
	if err != nil {
		return "", time.Time{}, nil, err
	}
	body, _ := json.Marshal(map[string]any{"agent_id": demoAgent, "channel": "web", "user_channel_id": user, "message": floodTurn + " everything"})
	if _, err := fmt.Fprintf(conn, "POST /v1/chat/stream HTTP/1.1\r\nHost: focal\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
		token, len(body), body); err != nil {
		conn.Close()
		return "", time.Time{}, nil, err
	}
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "\nid:") && seen.Len() < 64<<10 {
		n, err := conn.Read(buf)
		if err != nil {
			conn.Close()
			return "", time.Time{}, nil, fmt.Errorf("%s: %v after %q", user, err, seen.String())
		}
		seen.Write(buf[:n])
	}
	_, rest, _ := strings.Cut(seen.String(), "\nid:")
	id, _, _ := strings.Cut(strings.TrimSpace(rest), ":")
	return id, time.Now(), conn, nil
}

// awaitTurn polls GET /v1/turns/{id} until the turn is recorded; it
// returns its status and when it was first seen.
func awaitTurn(ctx context.Context, base, token, turnID string, bound time.Duration) (string, time.Time) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/turns/"+turnID, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if res, err := callClient.Do(req); err == nil {
			var t struct {
				Status string `json:"status"`
			}
			ok := res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&t) == nil
			res.Body.Close()
			if ok {
				return t.Status, time.Now()
			}
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return "", time.Time{}
}

// awaitEnded waits for the calls started by inFlight to end.
func awaitEnded(calls []*streamCall) {
	for _, c := range calls {
		c.running.Wait()
	}
}

// endings counts how calls ended, by last event and code.
func endings(calls []*streamCall) string {
	counts := map[string]int{}
	for _, c := range calls {
		label := c.last
		if c.code != "" {
			label += " " + c.code
		}
		if c.outcome != "" {
			label += " (outcome " + c.outcome + ")"
		}
		counts[label]++
	}
	parts := make([]string, 0, len(counts))
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s × %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
