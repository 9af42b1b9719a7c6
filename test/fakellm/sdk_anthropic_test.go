package fakellm_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func anthropicClient(url string, opts ...option.RequestOption) anthropic.Client {
	base := []option.RequestOption{
		// Keeps ANTHROPIC_* variables and profiles on the host out of tests.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(url),
		option.WithAPIKey("x"),
		option.WithMaxRetries(0),
	}
	return anthropic.NewClient(append(base, opts...)...)
}

func anthropicParams(user string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 256,
		System:    []anthropic.TextBlockParam{{Text: "be brief"}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(user))},
	}
}

// streamAnthropic drains a streaming call, returning the text deltas seen,
// the accumulated message and the stream error.
func streamAnthropic(ctx context.Context, c anthropic.Client, p anthropic.MessageNewParams) ([]string, anthropic.Message, error) {
	stream := c.Messages.NewStreaming(ctx, p)
	defer stream.Close()
	var msg anthropic.Message
	var deltas []string
	for stream.Next() {
		ev := stream.Current()
		if err := msg.Accumulate(ev); err != nil {
			return deltas, msg, err
		}
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
			deltas = append(deltas, ev.Delta.Text)
		}
	}
	return deltas, msg, stream.Err()
}

func textOf(m anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

func TestAnthropicSDKPlain(t *testing.T) {
	srv, url := start(t)
	c := anthropicClient(url)
	res, err := c.Messages.New(context.Background(), anthropicParams("hello there"))
	require.NoError(t, err)
	assert.NotEmpty(t, res.ID)
	assert.Equal(t, anthropic.Model("claude-test"), res.Model)
	assert.Equal(t, "You said: hello there", textOf(*res))
	assert.Equal(t, anthropic.StopReasonEndTurn, res.StopReason)
	assert.Equal(t, int64(4), res.Usage.InputTokens)
	assert.Equal(t, int64(4), res.Usage.OutputTokens)

	r, _ := srv.Last()
	// This SDK version sends the key as a bearer token rather than X-Api-Key.
	assert.True(t, r.Header.Get("X-Api-Key") == "x" || r.Header.Get("Authorization") == "Bearer x", "%v", r.Header)
	assert.NotEmpty(t, r.Header.Get("Anthropic-Version"))
	assert.Equal(t, "be brief", r.System)
}

func TestAnthropicSDKStreamAccumulates(t *testing.T) {
	srv, url := start(t)
	c := anthropicClient(url)
	plain, err := c.Messages.New(context.Background(), anthropicParams("hello there"))
	require.NoError(t, err)

	deltas := []string{"Hi", " there", ",\n", "\tfriend", "  "}
	srv.Enqueue(fakellm.Reply{Deltas: deltas, FinishReason: "length"})
	got, msg, err := streamAnthropic(context.Background(), c, anthropicParams("hello there"))
	require.NoError(t, err)
	assert.Equal(t, deltas, got)
	assert.Equal(t, strings.Join(deltas, ""), textOf(msg))
	assert.Equal(t, anthropic.StopReasonMaxTokens, msg.StopReason)

	_, msg, err = streamAnthropic(context.Background(), c, anthropicParams("hello there"))
	require.NoError(t, err)
	assert.Equal(t, textOf(*plain), textOf(msg))
	assert.Equal(t, plain.Usage.InputTokens, msg.Usage.InputTokens)
	assert.Equal(t, plain.Usage.OutputTokens, msg.Usage.OutputTokens)
	assert.Equal(t, anthropic.StopReasonEndTurn, msg.StopReason)
}

func TestAnthropicSDKErrorWithRetryAfter(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 3 * time.Second}, fakellm.Reply{Status: 529})
	c := anthropicClient(url)

	_, err := c.Messages.New(context.Background(), anthropicParams("x"))
	var apiErr *anthropic.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 429, apiErr.StatusCode)
	assert.Equal(t, "rate_limit_error", string(apiErr.Type()))
	assert.Equal(t, "3", apiErr.Response.Header.Get("Retry-After"))
	assert.NotEmpty(t, apiErr.RequestID)

	_, _, err = streamAnthropic(context.Background(), c, anthropicParams("x"))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 529, apiErr.StatusCode)
	assert.Equal(t, "overloaded_error", string(apiErr.Type()))
}

func TestAnthropicSDKSlowFirstByteAndFirstToken(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{HeaderDelay: 50 * time.Millisecond, FirstTokenDelay: 50 * time.Millisecond, TokenInterval: 10 * time.Millisecond})
	c := anthropicClient(url)
	began := time.Now()
	stream := c.Messages.NewStreaming(context.Background(), anthropicParams("x"))
	defer stream.Close()
	var firstEvent, firstDelta time.Duration
	for stream.Next() {
		if firstEvent == 0 {
			firstEvent = time.Since(began)
		}
		if stream.Current().Type == "content_block_delta" && firstDelta == 0 {
			firstDelta = time.Since(began)
		}
	}
	require.NoError(t, stream.Err())
	assert.GreaterOrEqual(t, firstEvent, 50*time.Millisecond, "headers held back")
	assert.GreaterOrEqual(t, firstDelta, 100*time.Millisecond)
	assert.Equal(t, 1, srv.Count())
}

func TestAnthropicSDKStall(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := anthropicClient(url)
	stream := c.Messages.NewStreaming(ctx, anthropicParams("x"))
	defer stream.Close()
	var deltas []string
	for stream.Next() {
		if ev := stream.Current(); ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
			deltas = append(deltas, ev.Delta.Text)
		}
		if len(deltas) == 3 {
			require.True(t, srv.WaitStalled(0, 30*time.Second), "the fake holds the stream after three deltas")
			cancel() // the client gives up on the stalled stream
		}
	}
	require.Error(t, stream.Err())
	assert.Equal(t, []string{"a", " b", " c"}, deltas, "nothing after the stall")
	after, ok := srv.WaitCancelled(0, 30*time.Second)
	require.True(t, ok, "the stall ended when the client left")
	assert.Positive(t, after)
}

func TestAnthropicSDKStreamFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply fakellm.Reply
		check func(t *testing.T, err error)
	}{
		{"malformed", fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 2}, func(t *testing.T, err error) {
			var syn *json.SyntaxError
			assert.ErrorAs(t, err, &syn)
		}},
		{"disconnect", fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 2}, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		}},
		{"error event", fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 2}, func(t *testing.T, err error) {
			var apiErr *anthropic.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, "overloaded_error", string(apiErr.Type()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := start(t)
			srv.Enqueue(tc.reply)
			deltas, msg, err := streamAnthropic(context.Background(), anthropicClient(url), anthropicParams("x"))
			require.Error(t, err)
			tc.check(t, err)
			assert.Equal(t, []string{"a", " b"}, deltas)
			assert.Empty(t, msg.StopReason, "message_delta never arrived")
		})
	}
}

func TestAnthropicSDKPlainFaultsAndOmitUsage(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{MalformedAfter: 1}, fakellm.Reply{DisconnectAfter: 1}, fakellm.Reply{OmitUsage: true})
	c := anthropicClient(url)
	_, err := c.Messages.New(context.Background(), anthropicParams("x"))
	assert.Error(t, err, "malformed body")
	_, err = c.Messages.New(context.Background(), anthropicParams("x"))
	assert.Error(t, err, "cut body")
	res, err := c.Messages.New(context.Background(), anthropicParams("x"))
	require.NoError(t, err)
	assert.False(t, res.JSON.Usage.Valid())
}

func TestAnthropicSDKCountTokens(t *testing.T) {
	_, url := start(t)
	c := anthropicClient(url)
	res, err := c.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{
		Model:    "claude-test",
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two three"))},
	})
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.InputTokens)
}
