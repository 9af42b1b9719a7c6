package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"focal/test/faultproxy"
)

// Config is one run's shape.
type Config struct {
	// Store is StoreMongo (or "") or StorePostgres.
	Store string
	// Target is the MongoDB test server (host:port), or the PostgreSQL
	// test server's URL.
	Target string
	// Database is a fresh database for the run; on PostgreSQL the run
	// creates it (and leaves it for the caller to drop).
	Database string
	// Turns is how many chat requests are sent in all.
	Turns int
	// DupShare of the requests repeat another request (same body, same
	// Idempotency-Key) at about the same moment.
	DupShare float64
	// Racing messages go to one session at once.
	Racing int
	// Concurrency bounds the requests in flight.
	Concurrency int
	// Faults are injected between Focal and the server.
	Faults faultproxy.Config
}

// Result is what a run found. A run passes when Problems is empty.
type Result struct {
	Server         string           `json:"server"`
	Requests       int              `json:"requests"`
	UniqueRequests int              `json:"unique_requests"`
	DuplicateKeys  int              `json:"duplicate_key_requests"`
	RacingMessages int              `json:"racing_messages"`
	FaultRate      float64          `json:"fault_rate"`
	Seed           uint64           `json:"seed"`
	Proxy          faultproxy.Stats `json:"proxy"`
	Answers        map[string]int   `json:"answers"`
	// What must stay zero.
	DuplicatedTurns   int `json:"duplicated_turns"`
	LostTurns         int `json:"lost_committed_turns"`
	TwoActiveSessions int `json:"channel_identities_with_two_active_sessions"`
	UnexpectedAnswers int `json:"answers_neither_committed_nor_retryable"`
	MismatchedPairs   int `json:"same_key_answers_that_differ"`
	// The racing session: its turns are numbered 1..n without a gap, and
	// n lies between the answered turns and the messages sent.
	RaceTurns        int      `json:"race_session_turns"`
	RaceAnswered     int      `json:"race_messages_answered"`
	RaceNumbersDense bool     `json:"race_session_turn_numbers_1_to_n"`
	Seconds          float64  `json:"seconds"`
	Problems         []string `json:"problems,omitempty"`
}

// answer is one request's outcome.
type answer struct {
	key, user string
	status    int
	code      string
	body      []byte
	turnID    string
	sessionID string
	race      bool
}

// Run starts Focal behind the proxy, sends the load with faults on, and
// reads back what it left.
func Run(ctx context.Context, cfg Config, log *zap.Logger) (*Result, error) {
	if err := createDatabase(ctx, cfg.Store, cfg.Target, cfg.Database); err != nil {
		return nil, err
	}
	focal, err := startFocal(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer focal.stop()
	c := &client{base: focal.url, token: focal.token, http: &http.Client{Timeout: 2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}}}

	// The racing session exists before the race starts; opening it may
	// meet a fault like any request, and is asked again until it is open.
	var race *answer
	for range 20 {
		if race = c.chat(ctx, "race-user", "race-0", "", "hello"); race.status == http.StatusOK {
			break
		}
	}
	if race.status != http.StatusOK {
		return nil, fmt.Errorf("opening the racing session: %d %s", race.status, race.body)
	}
	dups := int(float64(cfg.Turns-cfg.Racing) * cfg.DupShare)
	unique := cfg.Turns - cfg.Racing - dups
	jobs := loadJobs(ctx, c, cfg, unique, dups, race.sessionID)

	start := time.Now()
	answers := send(jobs, cfg.Concurrency)
	res := &Result{Server: focal.server, Requests: len(jobs), UniqueRequests: unique, DuplicateKeys: dups, RacingMessages: cfg.Racing,
		FaultRate: cfg.Faults.Rate, Seed: cfg.Faults.Seed, Answers: map[string]int{}, Seconds: time.Since(start).Seconds()}
	res.Proxy = focal.proxy.Stats()
	stored, err := readBack(ctx, cfg.Store, cfg.Target, cfg.Database)
	if err != nil {
		return res, err
	}
	res.check(stored, answers, race.sessionID)
	return res, nil
}

// loadJobs are the requests, in a seeded random order: one message per
// unique user, dups of them again with the same key, and the racing
// messages.
func loadJobs(ctx context.Context, c *client, cfg Config, unique, dups int, raceSession string) []func() *answer {
	jobs := make([]func() *answer, 0, cfg.Turns)
	user := func(i int) func() *answer {
		return func() *answer {
			return c.chat(ctx, fmt.Sprintf("user-%d", i), fmt.Sprintf("key-%d", i), "", "What time do you open on Sunday?")
		}
	}
	for i := range unique {
		jobs = append(jobs, user(i))
	}
	for i := range dups {
		jobs = append(jobs, user(i))
	}
	for i := range cfg.Racing {
		jobs = append(jobs, func() *answer {
			a := c.chat(ctx, "race-user", fmt.Sprintf("race-%d", i+1), raceSession, "store hours?")
			a.race = true
			return a
		})
	}
	rng := rand.New(rand.NewPCG(cfg.Faults.Seed, 1))
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	return jobs
}

// send runs the jobs, concurrency at a time.
func send(jobs []func() *answer, concurrency int) []*answer {
	answers := make([]*answer, len(jobs))
	var g errgroup.Group
	g.SetLimit(concurrency)
	for i, job := range jobs {
		g.Go(func() error {
			answers[i] = job()
			return nil
		})
	}
	_ = g.Wait() // jobs report failures in their results
	return answers
}

// retryable are the answers a client may get instead of its turn: the
// store did not answer (503), or the session or key was busy (409).
var retryable = map[string]bool{"503 STORE_UNAVAILABLE": true, "409 SESSION_BUSY": true, "409 IDEMPOTENCY_IN_PROGRESS": true}

func (res *Result) problem(format string, args ...any) {
	if len(res.Problems) < 50 {
		res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
	}
}

// check reads back what the load left and counts what went wrong. It
// reads the database directly, past Focal and the proxy: what is stored
// is the evidence, and the test server scans a collection for every
// query that is not by _id, which a read through the API (a listing
// joins each session's newest turn) would repeat a thousand times.
func (res *Result) check(stored *storedState, answers []*answer, raceSession string) {
	res.checkAnswers(stored, answers)
	res.checkSessions(stored, raceSession)
	numbers := stored.numbers[raceSession]
	slices.Sort(numbers)
	res.RaceTurns = len(numbers)
	res.RaceNumbersDense = true
	for i, n := range numbers {
		res.RaceNumbersDense = res.RaceNumbersDense && n == i+1
	}
	if !res.RaceNumbersDense {
		res.problem("the racing session's turns are numbered %v, not 1..%d", numbers, len(numbers))
	}
	// The opening turn, each answered race turn, and at most every message.
	if res.RaceTurns < 1+res.RaceAnswered || res.RaceTurns > 1+res.RacingMessages {
		res.problem("the racing session has %d turns for %d answered of %d messages", res.RaceTurns, res.RaceAnswered, res.RacingMessages)
	}
}

// checkAnswers: every answer is a stored turn or a retryable error, and
// answers to one key agree.
func (res *Result) checkAnswers(stored *storedState, answers []*answer) {
	byKey := map[string][]*answer{}
	for _, a := range answers {
		label := fmt.Sprint(a.status)
		if a.status != http.StatusOK {
			label += " " + a.code
		}
		res.Answers[label]++
		switch {
		case a.status == http.StatusOK:
			if a.race {
				res.RaceAnswered++
			}
			byKey[a.key] = append(byKey[a.key], a)
		case !retryable[label]:
			res.UnexpectedAnswers++
			res.problem("key %s: %s: %s", a.key, label, a.body)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		group := byKey[key]
		for _, a := range group[1:] {
			if !bytes.Equal(a.body, group[0].body) {
				res.MismatchedPairs++
				res.problem("key %s: two answers differ", key)
			}
		}
		a := group[0]
		var ans struct {
			Response string `json:"response"`
		}
		_ = json.Unmarshal(a.body, &ans)
		if t, ok := stored.turns[a.turnID]; !ok || t.sessionID != a.sessionID || t.response != ans.Response {
			res.LostTurns++
			res.problem("turn %s answered for key %s is not stored as answered", a.turnID, key)
		}
	}
}

// checkSessions: one active session per user, one turn per user's single
// message.
func (res *Result) checkSessions(stored *storedState, raceSession string) {
	active := map[string]int{}
	turnsOfUser := map[string]int{}
	for _, s := range stored.sessions {
		if s.status == "active" {
			active[s.user]++
		}
		if s.id != raceSession {
			turnsOfUser[s.user] += len(stored.numbers[s.id])
		}
	}
	for _, user := range slices.Sorted(maps.Keys(active)) {
		if n := active[user]; n > 1 {
			res.TwoActiveSessions++
			res.problem("%s has %d active sessions", user, n)
		}
	}
	for _, user := range slices.Sorted(maps.Keys(turnsOfUser)) {
		if n := turnsOfUser[user]; n > 1 {
			res.DuplicatedTurns += n - 1
			res.problem("%s sent one message and has %d turns", user, n)
		}
	}
}

type client struct {
	base, token string
	http        *http.Client
}

func (c *client) chat(ctx context.Context, user, key, sessionID, message string) *answer {
	body := map[string]string{"agent_id": demoAgent, "channel": "chaos", "user_channel_id": user, "message": message}
	if sessionID != "" {
		body["session_id"] = sessionID
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/chat", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Idempotency-Key", key)
	a := &answer{key: key, user: user}
	res, err := c.http.Do(req)
	if err != nil {
		a.status, a.body = -1, []byte(err.Error())
		return a
	}
	defer res.Body.Close()
	a.status = res.StatusCode
	a.body, _ = io.ReadAll(res.Body)
	var parsed struct {
		TurnID    string `json:"turn_id"`
		SessionID string `json:"session_id"`
		Error     struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &parsed)
	a.turnID, a.sessionID, a.code = parsed.TurnID, parsed.SessionID, parsed.Error.Code
	return a
}
