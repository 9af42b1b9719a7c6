package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"focal/test/fakellm"
	"focal/test/faultproxy"
)

// The outage cases run real `focal serve` processes on a store's test
// server (MongoDB or PostgreSQL), a fake streaming model on loopback, and, where the store must
// vanish or hang, test/faultproxy between them. Each case measures what
// its client would see and checks it against the documented delays.

// Takeover delays as documented (docs/operations.md): a session lease
// lasts leaseTTL unrenewed; a key's hold is OutageConfig.Hold.
const leaseTTL = 15 * time.Second

// OutageConfig is one run of the outage cases.
type OutageConfig struct {
	Binary string // focal, built by BuildFocal
	// Store is StoreMongo or StorePostgres; Target its test server (the
	// MongoDB server's host:port, the PostgreSQL server's URL).
	Store, Target string
	// Users are the keyed streams in flight at each fault, with as many
	// unkeyed probes whose sessions show when their lease is free again.
	Users int
	// Outage is how long the store stays unreachable, and Freeze how long
	// it hangs: both past a commit's deadline (twice the 5 s commit
	// timeout), so commits and releases fail, or end unconfirmed.
	Outage, Freeze time.Duration
	// Hold is FOCAL_IDEMPOTENCY_HOLD.
	Hold time.Duration
	// Log receives the services' logs.
	Log io.Writer
}

// ReducedOutages is the size make test runs.
func ReducedOutages(bin, store, target string, log io.Writer) OutageConfig {
	return OutageConfig{Binary: bin, Store: store, Target: target, Users: 4, Outage: 12 * time.Second, Freeze: 16 * time.Second,
		Hold: 10 * time.Second, Log: log}
}

// FullOutages is the size make chaos runs: the 20-second outage.
func FullOutages(bin, store, target string, log io.Writer) OutageConfig {
	return OutageConfig{Binary: bin, Store: store, Target: target, Users: 20, Outage: 20 * time.Second, Freeze: 20 * time.Second,
		Hold: 10 * time.Second, Log: log}
}

// takeover is the longest documented takeover delay: the key's hold or
// the session's lease, whichever is longer.
func (c OutageConfig) takeover() time.Duration { return max(c.Hold, leaseTTL) }

// Figure is one measured quantity with its bound and the verdict computed
// from them.
type Figure struct {
	What     string `json:"what"`
	Measured string `json:"measured"`
	Bound    string `json:"bound"`
	Met      bool   `json:"met"`
}

// CaseResult is one case's figures; Err is set when the case could not
// run (the run is then void, not passed).
type CaseResult struct {
	Name    string   `json:"name"`
	Figures []Figure `json:"figures"`
	Notes   []string `json:"notes,omitempty"`
	Err     string   `json:"error,omitempty"`
	Seconds float64  `json:"seconds"`
}

func (r *CaseResult) figure(what, measured, bound string, met bool) {
	r.Figures = append(r.Figures, Figure{What: what, Measured: measured, Bound: bound, Met: met})
}

func (r *CaseResult) within(what string, d, bound time.Duration) {
	r.figure(what, fmt.Sprintf("%.1f s", d.Seconds()), fmt.Sprintf("≤ %.0f s", bound.Seconds()), d <= bound)
}

func (r *CaseResult) zero(what string, n int) {
	r.figure(what, fmt.Sprint(n), "0", n == 0)
}

// Passed reports whether the case ran and met every bound.
func (r *CaseResult) Passed() bool {
	if r.Err != "" || len(r.Figures) == 0 {
		return false
	}
	for _, f := range r.Figures {
		if !f.Met {
			return false
		}
	}
	return true
}

// OutageResult is every case of a run.
type OutageResult struct {
	Store  string        `json:"store"`
	Users  int           `json:"users"`
	Outage time.Duration `json:"outage"`
	Freeze time.Duration `json:"freeze"`
	Hold   time.Duration `json:"hold"`
	Cases  []CaseResult  `json:"cases"`
}

// Void reports whether a case could not run.
func (r *OutageResult) Void() bool {
	for _, c := range r.Cases {
		if c.Err != "" {
			return true
		}
	}
	return false
}

// Passed reports whether every case ran and met its bounds.
func (r *OutageResult) Passed() bool {
	for _, c := range r.Cases {
		if !c.Passed() {
			return false
		}
	}
	return len(r.Cases) > 0
}

// outages is one run's shared parts.
type outages struct {
	cfg OutageConfig
	// server is the store's server, host:port.
	server string
	// databases are the ones the run made, dropped at its end.
	databases []string
	model     *fakellm.Server
	// modelCalls hears of every "frozen" turn the model is asked for.
	modelCalls chan struct{}
	bundle     string
	token      string
	run        string // names the run's databases
}

// RunOutages runs every case, one after another.
func RunOutages(ctx context.Context, cfg OutageConfig) (*OutageResult, error) {
	o, cleanup, err := newOutages(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	defer o.dropDatabases()
	res := &OutageResult{Store: cfg.Store, Users: cfg.Users, Outage: cfg.Outage, Freeze: cfg.Freeze, Hold: cfg.Hold}
	for _, c := range []struct {
		name string
		run  func(context.Context, *CaseResult) error
	}{
		{"SIGKILL mid-load, then restart", o.killed},
		{"store unreachable, then back (Focal left running)", o.unreachable},
		{"store hangs past the commit deadline, then resumes", o.frozen},
		{"SIGTERM with a 1 s drain and open streams", o.terminated},
		{"clients that stop reading their streams", o.stalled},
	} {
		r := CaseResult{Name: c.name}
		began := time.Now()
		if err := c.run(ctx, &r); err != nil {
			r.Err = err.Error()
		}
		r.Seconds = time.Since(began).Seconds()
		res.Cases = append(res.Cases, r)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	return res, nil
}

func newOutages(cfg OutageConfig) (*outages, func(), error) {
	server, err := serverAddr(cfg.Store, cfg.Target)
	if err != nil {
		return nil, nil, err
	}
	calls := make(chan struct{}, 1024)
	model := fakellm.New(fakellm.WithResponder(func(req fakellm.Request) fakellm.Reply {
		if strings.Contains(req.LastUser(), " frozen ") {
			select {
			case calls <- struct{}{}:
			default:
			}
		}
		return modelReply(req)
	}))
	model.Start()
	dir, err := os.MkdirTemp("", "focal-outages-")
	if err != nil {
		model.Close()
		return nil, nil, err
	}
	cleanup := func() { model.Close(); _ = os.RemoveAll(dir) }
	bundle := filepath.Join(dir, "plain.yaml")
	if err := os.WriteFile(bundle, []byte(fmt.Sprintf("agent: {id: %s, tenant_id: %s, name: plain}\n", demoAgent, demoTenant)), 0o600); err != nil {
		cleanup()
		return nil, nil, err
	}
	token, err := signToken()
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return &outages{cfg: cfg, server: server, model: model, modelCalls: calls, bundle: bundle, token: token, run: fmt.Sprint(time.Now().UnixNano())}, cleanup, nil
}

// Messages tell the fake model how long to answer: a long turn stays in
// flight while a fault strikes; a short one is over in a moment; a flood
// outgrows every socket buffer between Focal and a client that stopped
// reading.
const (
	longTurn  = "long:"
	shortTurn = "short:"
	floodTurn = "flood:"
)

func modelReply(req fakellm.Request) fakellm.Reply {
	last := req.LastUser()
	words := func(n int, w string) []string {
		d := make([]string, n)
		for i := range d {
			d[i] = w
		}
		return d
	}
	switch {
	case strings.Contains(last, longTurn):
		return fakellm.Reply{Deltas: words(100, "word "), TokenInterval: 30 * time.Millisecond}
	case strings.Contains(last, floodTurn):
		return fakellm.Reply{Deltas: words(4000, strings.Repeat("word ", 400))}
	}
	return fakellm.Reply{Deltas: words(5, "word "), TokenInterval: 30 * time.Millisecond}
}

// env is the service's environment on database db, reaching the store's
// server at addr (the server or a proxy in front of it).
func (o *outages) env(addr, db string, extra ...string) []string {
	return append(append([]string{
		"FOCAL_JWT_SECRET=" + secret, "FOCAL_BOOTSTRAP_BUNDLE=" + o.bundle, "FOCAL_LOG_LEVEL=info",
		"FOCAL_LLM_PROVIDER=openai", "FOCAL_LLM_MODEL=fake", "FOCAL_LLM_BASE_URL=" + o.model.URL() + "/v1",
		"FOCAL_LLM_API_KEY=test-key", "FOCAL_LLM_MAX_RETRIES=0", "FOCAL_IDEMPOTENCY_HOLD=" + o.cfg.Hold.String(),
	}, envList(storeEnv(o.cfg.Store, o.cfg.Target, addr, db, 2*time.Second, 2*time.Second))...), extra...)
}

// db makes a fresh database for a case, named after it.
func (o *outages) db(ctx context.Context, name string) (string, error) {
	db := "focal_outage_" + name + "_" + o.run
	if err := createDatabase(ctx, o.cfg.Store, o.cfg.Target, db); err != nil {
		return "", err
	}
	o.databases = append(o.databases, db)
	return db, nil
}

// dropDatabases drops the databases the run made.
func (o *outages) dropDatabases() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range o.databases {
		_ = DropDatabase(ctx, o.cfg.Store, o.cfg.Target, db)
	}
}

// startProxy puts a fault-free proxy in front of the store's server, for
// cutting and freezing it.
func (o *outages) startProxy() (*faultproxy.Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return startStoreProxy(o.cfg.Store, ln, faultproxy.Config{Target: o.server}), nil
}

// completed counts the completed turns stored per message in db (every
// message of a case is unique).
func (o *outages) completed(ctx context.Context, db string) (map[string]int, error) {
	st, err := readBack(ctx, o.cfg.Store, o.cfg.Target, db)
	if err != nil {
		return nil, err
	}
	return st.completed(), nil
}

// committedTwice counts messages with more than one completed turn in db.
func (o *outages) committedTwice(ctx context.Context, db string) (int, error) {
	completed, err := o.completed(ctx, db)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range completed {
		if c > 1 {
			n++
		}
	}
	return n, nil
}

// inFlight starts a long keyed stream per user and an unkeyed one per
// probe, and returns once every one has streamed its first token.
func (o *outages) inFlight(ctx context.Context, url string) (keyed, probes []*streamCall, err error) {
	var started sync.WaitGroup
	start := func(user, key string) *streamCall {
		s := newStreamCall(user, key, longTurn+" tell me about "+user)
		started.Add(1)
		s.running.Add(1)
		go func() { defer s.running.Done(); s.run(ctx, url, o.token, started.Done) }()
		return s
	}
	for i := range o.cfg.Users {
		keyed = append(keyed, start(fmt.Sprintf("keyed-%d", i), fmt.Sprintf("key-%d", i)))
		probes = append(probes, start(fmt.Sprintf("probe-%d", i), ""))
	}
	waited := make(chan struct{})
	go func() { started.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		return nil, nil, fmt.Errorf("the streams did not start within a minute")
	}
	for _, s := range append(append([]*streamCall{}, keyed...), probes...) {
		if s.firstToken.IsZero() {
			return nil, nil, fmt.Errorf("%s: no token: %s", s.user, s.describe())
		}
	}
	return keyed, probes, nil
}
