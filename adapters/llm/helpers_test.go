package llm

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/require"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// fake starts a fake provider server for the test.
func fake(t *testing.T, opts ...fakellm.Option) (*fakellm.Server, string) {
	t.Helper()
	srv := fakellm.New(opts...)
	url := srv.Start()
	t.Cleanup(srv.Close)
	return srv, url
}

// client is shared by a test's adapters; short connect timeout.
var testClient = NewHTTPClient(time.Second)

func newOpenAI(t *testing.T, url string) *OpenAI {
	t.Helper()
	m, err := NewOpenAI(OpenAIConfig{BaseURL: url + "/v1", APIKey: "sk-test-key-123456", Model: "gpt-test", HTTPClient: testClient})
	require.NoError(t, err)
	return m
}

func newAnthropic(t *testing.T, url string) *Anthropic {
	t.Helper()
	m, err := NewAnthropic(AnthropicConfig{BaseURL: url, APIKey: "sk-ant-test-key-123456", Model: "claude-test", HTTPClient: testClient})
	require.NoError(t, err)
	return m
}

// guardConfig is a fast policy: tests must not wait for production timeouts.
func guardConfig() resilience.Config {
	return resilience.Config{
		FirstTokenTimeout: time.Second, // well above a first token from the local fake, even on a loaded machine
		AttemptTimeout:    3 * time.Second,
		MaxRetries:        1,
		RetryBase:         5 * time.Millisecond,
		RetryMax:          20 * time.Millisecond,
		BreakerFailures:   3,
		BreakerOpen:       200 * time.Millisecond,
		UnavailableCode:   domain.CodeLLMUnavailable,
	}
}

func chatRequest(user string) ports.ChatRequest {
	return ports.ChatRequest{Messages: []ports.ChatMessage{
		{Role: ports.RoleSystem, Content: "be brief"},
		{Role: ports.RoleUser, Content: user},
	}}
}

// collect runs one call and returns the deltas passed on.
func collect(ctx context.Context, m ports.ChatModel, req ports.ChatRequest) ([]string, ports.ChatResult, error) {
	var deltas []string
	res, err := m.StreamChat(ctx, req, func(d string) error {
		deltas = append(deltas, d)
		return nil
	})
	return deltas, res, err
}

func errCode(err error) domain.ErrorCode { return domain.ErrorCodeOf(err) }

var fiveDeltas = []string{"a", " b", " c", " d", " e"}

// timersSet blocks until n timers are set on clock: the guard is waiting
// on them.
func timersSet(t *testing.T, clock *clockwork.FakeClock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, n), "the guard never set its %d timers", n)
}

// timersPending reports whether n timers are set on clock now, without
// waiting: an Advance fires the timers it reaches before it returns, so
// a timer still set was not reached.
func timersPending(clock *clockwork.FakeClock, n int) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return clock.BlockUntilContext(ctx, n) == nil
}

// heardChain is chainOn with retries hearing each retry the guard starts.
func heardChain(t *testing.T, cfg resilience.Config, clock clockwork.Clock, retries retryErrs, links ...Link) *Resilient {
	t.Helper()
	r, err := NewResilient(resilience.NewGuard(cfg, retries, clock), nil, links...)
	require.NoError(t, err)
	return r
}

// retryErrs is a resilience.Observer passing on the error each retry is
// made for; buffer it for every retry the test expects.
type retryErrs chan error

func (retryErrs) StateChange(string, string, string) {}

func (r retryErrs) Retry(_ string, _ int, _ time.Duration, err error) { r <- err }

// next waits for the guard to start a retry and returns its reason.
func (r retryErrs) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the guard started no retry")
		return nil
	}
}

// collected is what collect returned.
type collected struct {
	got []string
	res ports.ChatResult
	err error
}

// pendingCall is a call collecting on a goroutine of its own.
type pendingCall chan collected

// collectAsync starts collect on m.
func collectAsync(m ports.ChatModel, req ports.ChatRequest) pendingCall {
	done := make(pendingCall, 1)
	go func() {
		got, res, err := collect(context.Background(), m, req)
		done <- collected{got, res, err}
	}()
	return done
}

// wait waits for the call to return.
func (c pendingCall) wait(t *testing.T) collected {
	t.Helper()
	select {
	case res := <-c:
		return res
	case <-time.After(30 * time.Second):
		t.Fatal("the call did not return")
		return collected{}
	}
}
