package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// chatClient posts turns and reads sessions, checking every answer.
type chatClient struct {
	base, token string
	http        *http.Client
}

func newChatClient(base, token string) *chatClient {
	return &chatClient{base: base, token: token, http: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// turnAnswer is the part of a chat answer the bench checks.
type turnAnswer struct {
	TurnID    string `json:"turn_id"`
	SessionID string `json:"session_id"`
	Response  string `json:"response"`
}

// chat sends one message as user and requires a real turn back.
func (c *chatClient) chat(user, message string) (turnAnswer, error) {
	body, _ := json.Marshal(map[string]string{"agent_id": benchAgent, "channel": "bench", "user_channel_id": user, "message": message})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/chat", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return turnAnswer{}, err
	}
	defer res.Body.Close()
	var a turnAnswer
	if res.StatusCode != http.StatusOK {
		return a, fmt.Errorf("chat as %s answered %d", user, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil || a.TurnID == "" || a.SessionID == "" || a.Response == "" {
		return a, fmt.Errorf("chat as %s: not a turn (%v)", user, err)
	}
	return a, nil
}

// benchSession is the part of a session the bench checks.
type benchSession struct {
	TurnCount int `json:"turn_count"`
	Scenario  *struct {
		ScenarioID string `json:"scenario_id"`
		StepID     string `json:"step_id"`
	} `json:"scenario"`
}

func (c *chatClient) session(id string) (benchSession, error) {
	var s benchSession
	body, err := c.get("/v1/sessions/" + id)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(body, &s)
}

// seedReturningUsers gives users ret-0..ret-<n-1> a history of turns
// messages, the first of which, one of openings in turn, is meant to start
// the bench agent's scenario, then reads every session back and fails
// unless it holds that many turns: returning users are what they claim to
// be. It answers how many are in the scenario, which the caller requires
// or reports.
func seedReturningUsers(c *chatClient, p *phrases, openings []string, n, turns int) (inScenario int, err error) {
	msgs := p.messages()
	var wg sync.WaitGroup
	var active atomic.Int64
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			user := fmt.Sprintf("ret-%d", i)
			var last turnAnswer
			for k := range turns {
				msg := msgs[(i*turns+k)%len(msgs)]
				if k == 0 {
					msg = openings[i%len(openings)]
				}
				a, err := c.chat(user, msg)
				if err != nil {
					errs <- err
					return
				}
				last = a
			}
			s, err := c.session(last.SessionID)
			switch {
			case err != nil:
				errs <- err
			case s.TurnCount < turns:
				errs <- fmt.Errorf("seeded user %s has %d turns, want %d", user, s.TurnCount, turns)
			case s.Scenario != nil:
				active.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(active.Load()), <-errs // nil when none failed
}

// seedInScenario is seedReturningUsers for runs that need every returning
// user inside the scenario.
func seedInScenario(c *chatClient, p *phrases, openings []string, n, turns int) error {
	active, err := seedReturningUsers(c, p, openings, n, turns)
	if err == nil && active < n {
		err = fmt.Errorf("%d of %d seeded users have an active scenario after %d turns", active, n, turns)
	}
	return err
}
