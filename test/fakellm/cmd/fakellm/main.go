// Command fakellm serves fake OpenAI and Anthropic model APIs on one
// listener, for demos and load tests that must not touch a real provider.
//
// It prints its base URL as the first stdout line; point an OpenAI client at
// <url>/v1 and an Anthropic client at <url>. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"focal/test/fakellm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8090", "TCP address to listen on (port 0 picks a free port)")
	interval := flag.Duration("token-interval", 0, "pause between streamed deltas, e.g. 20ms")
	firstToken := flag.Duration("first-token-delay", 0, "delay before the first streamed delta")
	replyText := flag.String("reply", "", "fixed reply text (default: echo the last user message)")
	words := flag.Int("words", 0, "reply with this many lorem-ipsum words (ignored when -reply is set)")
	errorRate := flag.Float64("error-rate", 0, "fraction of chat requests answered with 503, 0..1")
	flag.Parse()
	if *errorRate < 0 || *errorRate > 1 {
		return fmt.Errorf("-error-rate must be within [0,1], got %v", *errorRate)
	}
	srv := fakellm.New(
		fakellm.WithResponder(responder(*replyText, *words, *errorRate)),
		fakellm.WithDefaults(fakellm.Reply{TokenInterval: *interval, FirstTokenDelay: *firstToken}),
	)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	fmt.Fprintf(os.Stderr, "fakellm: OpenAI base URL http://%[1]s/v1, Anthropic base URL http://%[1]s\n", ln.Addr())
	return serve(srv, ln)
}

// responder answers with reply, else words lorem-ipsum words, else an echo
// of the last user message; errorRate of the requests get a 503.
func responder(reply string, words int, errorRate float64) fakellm.Responder {
	answer := fakellm.Responder(fakellm.Echo)
	switch {
	case reply != "":
		answer = fakellm.Fixed(reply)
	case words > 0:
		answer = fakellm.Words(words)
	}
	if errorRate == 0 {
		return answer
	}
	return func(req fakellm.Request) fakellm.Reply {
		if rand.Float64() < errorRate {
			return fakellm.Reply{Status: http.StatusServiceUnavailable, RetryAfter: time.Second}
		}
		return answer(req)
	}
}

// serve serves srv on ln until SIGINT or SIGTERM.
func serve(srv *fakellm.Server, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 10000}}
	// HTTP/1.1, and HTTP/2 without TLS for clients that speak it (FOCAL_LLM_H2C).
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Release stalled or slow handlers before waiting for them to finish.
	srv.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
