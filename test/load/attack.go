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

// runAttack sends chat turns as fast as `workers` closed-loop clients can
// (rate 0) or at a fixed rate, each request from a new user so every turn
// opens and writes its own session.
func runAttack(args []string) error {
	fs := flag.NewFlagSet("attack", flag.ExitOnError)
	target := fs.String("url", "http://127.0.0.1:8080", "base URL")
	path := fs.String("path", "/v1/chat", "route to post to")
	token := fs.String("token", "", "bearer token")
	agent := fs.String("agent", "", "agent id")
	message := fs.String("message", "What time do you open on Sunday?", "user message")
	rate := fs.Int("rate", 0, "requests per second; 0 means as fast as the workers go")
	workers := fs.Uint64("workers", 1, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "attack duration")
	sameUser := fs.Bool("same-user", false, "send every turn to one session per worker instead of a new user each time")
	_ = fs.Parse(args)
	if err := loopbackOnly(*target); err != nil {
		return err
	}
	var n atomic.Int64
	targeter := func(t *vegeta.Target) error {
		i := n.Add(1)
		user := fmt.Sprintf("load-%d", i)
		if *sameUser {
			user = fmt.Sprintf("load-w%d", i%int64(*workers))
		}
		body, _ := json.Marshal(map[string]string{"agent_id": *agent, "channel": "load", "user_channel_id": user, "message": *message})
		t.Method, t.URL, t.Body = http.MethodPost, *target+*path, body
		t.Header = http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + *token}}
		return nil
	}
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Connections(int(*workers)), vegeta.Timeout(30 * time.Second)}
	pacer := vegeta.Rate{Freq: *rate, Per: time.Second}
	if *rate == 0 {
		opts = append(opts, vegeta.Workers(*workers), vegeta.MaxWorkers(*workers))
	}
	attacker := vegeta.NewAttacker(opts...)
	var m vegeta.Metrics
	for res := range attacker.Attack(targeter, pacer, *duration, "focal") {
		m.Add(res)
	}
	m.Close()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return printJSON(attackResult{
		Target: *target + *path, Requests: m.Requests, Throughput: m.Throughput, Success: m.Success,
		P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90), P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max),
		Status: m.StatusCodes, Errors: m.Errors,
	})
}
