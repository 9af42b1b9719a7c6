package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// integrityResult is what the integrity run found. A healthy service shows
// zero duplicated and zero lost turns and an exact race count.
type integrityResult struct {
	Requests        int            `json:"requests"`
	UniqueRequests  int            `json:"unique_requests"`
	DuplicateKeys   int            `json:"duplicate_key_requests"`
	RacingMessages  int            `json:"racing_messages"`
	Status          map[string]int `json:"status_codes"`
	DuplicatedTurns int            `json:"duplicated_turns"`
	LostTurns       int            `json:"lost_turns"`
	MismatchedPairs int            `json:"duplicate_pairs_with_different_answers"`
	RaceTurnCount   int            `json:"race_session_turn_count"`
	RaceNumbersOK   bool           `json:"race_session_turn_numbers_1_to_n"`
	Seconds         float64        `json:"seconds"`
	Problems        []string       `json:"problems,omitempty"`
}

type sent struct {
	key, user string
	status    int
	body      []byte
	turnID    string
	sessionID string
}

// runIntegrity fires turns at once (bounded by -concurrency): -turns in
// all, of which a -dup share resend another request's body with its
// Idempotency-Key at the same moment, and -race messages go to one session.
// Then it reads back every session and turn and counts what was duplicated
// or lost.
func runIntegrity(args []string) error {
	fs := flag.NewFlagSet("integrity", flag.ExitOnError)
	target := fs.String("url", "http://127.0.0.1:8080", "base URL")
	token := fs.String("token", "", "bearer token (tier enterprise, so limits do not interfere)")
	agent := fs.String("agent", "", "agent id")
	turns := fs.Int("turns", 1000, "requests in all")
	dup := fs.Float64("dup", 0.1, "share of requests that repeat another's idempotency key")
	race := fs.Int("race", 50, "messages racing on one session")
	concurrency := fs.Int("concurrency", 200, "requests in flight at most")
	_ = fs.Parse(args)
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	c := &client{base: *target, token: *token, agent: *agent, http: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}}

	// The race session exists before the race starts.
	first, err := c.chat("race-user", "race-0", "", "hello")
	if err != nil || first.status != http.StatusOK {
		return fmt.Errorf("opening the race session: status %d, %v", first.status, err)
	}
	raceSession := first.sessionID

	dups := int(float64(*turns-*race) * *dup)
	unique := *turns - *race - dups
	jobs := integrityJobs(c, unique, dups, *race, raceSession)
	start := time.Now()
	results := runAll(jobs, *concurrency)
	res := integrityResult{Requests: len(jobs), UniqueRequests: unique, DuplicateKeys: dups, RacingMessages: *race,
		Status: map[string]int{}, Seconds: time.Since(start).Seconds()}
	res.check(c, results, raceSession, *race+1)
	if err := printJSON(res); err != nil {
		return err
	}
	if len(res.Problems) > 0 {
		return errors.New("integrity violated")
	}
	return nil
}

// integrityJobs are unique requests, dups repeats of the first of them
// (same user, same Idempotency-Key) and race messages to one session,
// shuffled together.
func integrityJobs(c *client, unique, dups, race int, raceSession string) []func() *sent {
	jobs := make([]func() *sent, 0, unique+dups+race)
	for i := range unique {
		jobs = append(jobs, func() *sent {
			return must(c.chat(fmt.Sprintf("user-%d", i), fmt.Sprintf("key-%d", i), "", "What time do you open on Sunday?"))
		})
	}
	for i := range dups {
		jobs = append(jobs, func() *sent {
			return must(c.chat(fmt.Sprintf("user-%d", i), fmt.Sprintf("key-%d", i), "", "What time do you open on Sunday?"))
		})
	}
	for i := range race {
		jobs = append(jobs, func() *sent {
			return must(c.chat("race-user", fmt.Sprintf("race-%d", i+1), raceSession, "store hours?"))
		})
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	return jobs
}

// runAll runs the jobs, at most concurrency at once, and returns their
// results in order.
func runAll(jobs []func() *sent, concurrency int) []*sent {
	results := make([]*sent, len(jobs))
	var g errgroup.Group
	g.SetLimit(concurrency)
	for i, job := range jobs {
		g.Go(func() error {
			results[i] = job()
			return nil
		})
	}
	_ = g.Wait() // jobs report failures in their results
	return results
}

func must(s *sent, err error) *sent {
	if err != nil {
		return &sent{status: -1, body: []byte(err.Error())}
	}
	return s
}

// check reads everything back and counts what went wrong.
func (res *integrityResult) check(c *client, results []*sent, raceSession string, raceTurns int) {
	byKey := map[string][]*sent{}
	for _, s := range results {
		res.Status[fmt.Sprint(s.status)]++
		if s.status != http.StatusOK {
			res.Problems = append(res.Problems, fmt.Sprintf("key %s: status %d: %s", s.key, s.status, s.body))
			continue
		}
		byKey[s.key] = append(byKey[s.key], s)
	}
	for key, group := range byKey {
		for _, s := range group[1:] {
			if !bytes.Equal(s.body, group[0].body) {
				res.MismatchedPairs++
				res.Problems = append(res.Problems, "key "+key+": two answers differ")
			}
		}
		s := group[0]
		if _, status := c.get("/v1/turns/" + s.turnID); status != http.StatusOK {
			res.LostTurns++
			res.Problems = append(res.Problems, "turn "+s.turnID+" of key "+key+" is not recorded")
		}
		if s.sessionID == raceSession {
			continue
		}
		var session struct {
			TurnCount int `json:"turn_count"`
		}
		if body, status := c.get("/v1/sessions/" + s.sessionID); status == http.StatusOK && json.Unmarshal(body, &session) == nil {
			if session.TurnCount > 1 {
				res.DuplicatedTurns += session.TurnCount - 1
				res.Problems = append(res.Problems, fmt.Sprintf("session of key %s has %d turns", key, session.TurnCount))
			}
		}
	}
	var session struct {
		TurnCount int `json:"turn_count"`
	}
	body, _ := c.get("/v1/sessions/" + raceSession)
	_ = json.Unmarshal(body, &session)
	res.RaceTurnCount = session.TurnCount - 1 // minus the opening turn
	res.RaceNumbersOK = c.turnNumbersAreDense(raceSession, raceTurns)
	if session.TurnCount != raceTurns || !res.RaceNumbersOK {
		res.Problems = append(res.Problems, fmt.Sprintf("race session has %d turns, want %d, numbers dense: %v", session.TurnCount, raceTurns, res.RaceNumbersOK))
	}
}

type client struct {
	base, token, agent string
	http               *http.Client
}

func (c *client) chat(user, key, sessionID, message string) (*sent, error) {
	body := map[string]string{"agent_id": c.agent, "channel": "load", "user_channel_id": user, "message": message}
	if sessionID != "" {
		body["session_id"] = sessionID
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/chat", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Idempotency-Key", key)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := &sent{key: key, user: user, status: res.StatusCode}
	if out.body, err = io.ReadAll(res.Body); err != nil {
		return nil, err
	}
	var ids struct {
		TurnID    string `json:"turn_id"`
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(out.body, &ids)
	out.turnID, out.sessionID = ids.TurnID, ids.SessionID
	return out, nil
}

func (c *client) get(path string) ([]byte, int) {
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, -1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return body, res.StatusCode
}

// turnNumbersAreDense pages through a session's turns and checks they are
// numbered 1..n with none missing.
func (c *client) turnNumbersAreDense(sessionID string, n int) bool {
	next, cursor := 1, ""
	for {
		path := "/v1/sessions/" + sessionID + "/turns?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		body, status := c.get(path)
		var page struct {
			Items []struct {
				TurnNumber int `json:"turn_number"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &page) != nil {
			return false
		}
		for _, it := range page.Items {
			if it.TurnNumber != next {
				return false
			}
			next++
		}
		if page.NextCursor == nil {
			return next-1 == n
		}
		cursor = *page.NextCursor
	}
}
