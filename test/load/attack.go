package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attackResult is what one attack measured; latencies in milliseconds.
type attackResult struct {
	Target     string         `json:"target"`
	Requests   uint64         `json:"requests"`
	Throughput float64        `json:"throughput_rps"`
	Success    float64        `json:"success_ratio"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	Max        float64        `json:"max_ms"`
	Status     map[string]int `json:"status_codes"`
	Errors     []string       `json:"errors,omitempty"`
}

// attackSpec describes one attack.
type attackSpec struct {
	URL, Path, Token, Agent, Message string
	Rate                             int // per second; 0: as fast as the workers go
	Workers                          uint64
	Duration                         time.Duration
	SameUser                         bool
}

// runAttack sends chat turns as fast as `workers` closed-loop clients can
// (rate 0) or at a fixed rate, each request from a new user so every turn
// opens and writes its own session.
func runAttack(args []string) error {
	fs := flag.NewFlagSet("attack", flag.ExitOnError)
	var s attackSpec
	fs.StringVar(&s.URL, "url", "http://127.0.0.1:8080", "base URL")
	fs.StringVar(&s.Path, "path", "/v1/chat", "route to post to")
	fs.StringVar(&s.Token, "token", "", "bearer token")
	fs.StringVar(&s.Agent, "agent", "", "agent id")
	fs.StringVar(&s.Message, "message", "What time do you open on Sunday?", "user message")
	fs.IntVar(&s.Rate, "rate", 0, "requests per second; 0 means as fast as the workers go")
	fs.Uint64Var(&s.Workers, "workers", 1, "concurrent clients")
	fs.DurationVar(&s.Duration, "duration", 10*time.Second, "attack duration")
	fs.BoolVar(&s.SameUser, "same-user", false, "send every turn to one session per worker instead of a new user each time")
	_ = fs.Parse(args)
	if err := loopbackOnly(s.URL); err != nil {
		return err
	}
	return printJSON(attack(s))
}

func attack(s attackSpec) attackResult {
	var n atomic.Int64
	targeter := func(t *vegeta.Target) error {
		i := n.Add(1)
		user := fmt.Sprintf("load-%d", i)
		if s.SameUser {
			user = fmt.Sprintf("load-w%d", i%int64(s.Workers))
		}
		body, _ := json.Marshal(map[string]string{"agent_id": s.Agent, "channel": "load", "user_channel_id": user, "message": s.Message})
		t.Method, t.URL, t.Body = http.MethodPost, s.URL+s.Path, body
		t.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + s.Token}}
		return nil
	}
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Connections(int(s.Workers)), vegeta.Timeout(30 * time.Second)}
	pacer := vegeta.Rate{Freq: s.Rate, Per: time.Second}
	if s.Rate == 0 {
		opts = append(opts, vegeta.Workers(s.Workers), vegeta.MaxWorkers(s.Workers))
	}
	attacker := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	for res := range attacker.Attack(targeter, pacer, s.Duration, "focal") {
		m.Add(res)
	}
	m.Close()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return attackResult{
		Target: s.URL + s.Path, Requests: m.Requests, Throughput: m.Throughput, Success: m.Success,
		P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90), P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max),
		Status: m.StatusCodes, Errors: m.Errors,
	}
}
