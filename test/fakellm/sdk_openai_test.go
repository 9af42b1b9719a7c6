package fakellm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func openAIClient(url string, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(url + "/v1/"),
		option.WithAPIKey("x"),
		option.WithMaxRetries(0),
	}
	return openai.NewClient(append(base, opts...)...)
}

func openAIParams(user string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model: "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("be brief"),
			openai.UserMessage(user),
		},
	}
}

// streamOpenAI drains a streaming call, returning the deltas seen, the
// accumulated completion and the stream error.
func streamOpenAI(ctx context.Context, c openai.Client, p openai.ChatCompletionNewParams) ([]string, openai.ChatCompletionAccumulator, error) {
	stream := c.Chat.Completions.NewStreaming(ctx, p)
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	var deltas []string
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			deltas = append(deltas, chunk.Choices[0].Delta.Content)
		}
	}
	return deltas, acc, stream.Err()
}

func TestOpenAISDKPlain(t *testing.T) {
	srv, url := start(t)
	c := openAIClient(url)
	res, err := c.Chat.Completions.New(context.Background(), openAIParams("hello there"))
	require.NoError(t, err)
	assert.NotEmpty(t, res.ID)
	assert.Equal(t, "gpt-test", res.Model)
	require.Len(t, res.Choices, 1)
	assert.Equal(t, "You said: hello there", res.Choices[0].Message.Content)
	assert.Equal(t, "stop", res.Choices[0].FinishReason)
	assert.Equal(t, int64(4), res.Usage.PromptTokens)
	assert.Equal(t, int64(4), res.Usage.CompletionTokens)
	assert.Equal(t, int64(8), res.Usage.TotalTokens)

	r, _ := srv.Last()
	assert.Equal(t, "Bearer x", r.Header.Get("Authorization"))
	assert.False(t, r.Stream)
}

func TestOpenAISDKStreamAccumulatesWithUsage(t *testing.T) {
	srv, url := start(t)
	c := openAIClient(url)
	plain, err := c.Chat.Completions.New(context.Background(), openAIParams("hello there"))
	require.NoError(t, err)

	deltas := []string{"Hi", " there", ",\n", "\tfriend", "  "}
	srv.Enqueue(fakellm.Reply{Deltas: deltas}, fakellm.Reply{})
	p := openAIParams("hello there")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	got, acc, err := streamOpenAI(context.Background(), c, p)
	require.NoError(t, err)
	assert.Equal(t, deltas, got)
	assert.Equal(t, strings.Join(deltas, ""), acc.Choices[0].Message.Content)
	assert.Equal(t, "stop", acc.Choices[0].FinishReason)

	// The default reply streamed must report the same usage as when plain.
	_, acc, err = streamOpenAI(context.Background(), c, p)
	require.NoError(t, err)
	assert.Equal(t, plain.Choices[0].Message.Content, acc.Choices[0].Message.Content)
	assert.Equal(t, plain.Usage.PromptTokens, acc.Usage.PromptTokens)
	assert.Equal(t, plain.Usage.CompletionTokens, acc.Usage.CompletionTokens)
	assert.Equal(t, plain.Usage.TotalTokens, acc.Usage.TotalTokens)

	req, _ := srv.Last()
	assert.True(t, req.Stream)
	assert.True(t, req.IncludeUsage)
}

func TestOpenAISDKErrorWithRetryAfter(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Status: 429, RetryAfter: 2 * time.Second}, fakellm.Reply{Status: 503, RetryAfter: time.Second})
	c := openAIClient(url)

	_, err := c.Chat.Completions.New(context.Background(), openAIParams("x"))
	var apiErr *openai.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 429, apiErr.StatusCode)
	assert.Equal(t, "rate_limit_exceeded", apiErr.Code)
	assert.Equal(t, "2", apiErr.Response.Header.Get("Retry-After"))

	_, _, err = streamOpenAI(context.Background(), c, openAIParams("x"))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 503, apiErr.StatusCode)
	assert.Equal(t, "server_error", apiErr.Type)
	assert.Equal(t, "1", apiErr.Response.Header.Get("Retry-After"))
}

func TestOpenAISDKRetriesThroughFailNext(t *testing.T) {
	srv, url := start(t)
	// retry-after-ms keeps the SDK's backoff short.
	srv.FailNext(2, fakellm.Reply{Status: 503, RetryAfter: 5 * time.Millisecond})
	c := openAIClient(url, option.WithMaxRetries(2))
	res, err := c.Chat.Completions.New(context.Background(), openAIParams("again"))
	require.NoError(t, err)
	assert.Equal(t, "You said: again", res.Choices[0].Message.Content)
	assert.Equal(t, 3, srv.Count())
}

func TestOpenAISDKSlowFirstByte(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{HeaderDelay: 300 * time.Millisecond}, fakellm.Reply{HeaderDelay: 60 * time.Millisecond})
	c := openAIClient(url)

	_, err := c.Chat.Completions.New(context.Background(), openAIParams("x"), option.WithRequestTimeout(50*time.Millisecond))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, ok := srv.WaitCancelled(0, 30*time.Second)
	assert.True(t, ok, "the server saw the timed-out request go away")

	began := time.Now()
	_, _, err = streamOpenAI(context.Background(), c, openAIParams("x"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), 60*time.Millisecond)
}

func TestOpenAISDKTokenInterval(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, TokenInterval: 25 * time.Millisecond})
	c := openAIClient(url)
	start := time.Now()
	stream := c.Chat.Completions.NewStreaming(context.Background(), openAIParams("x"))
	defer stream.Close()
	var arrivals []time.Time
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			arrivals = append(arrivals, time.Now())
		}
	}
	require.NoError(t, stream.Err())
	require.Len(t, arrivals, len(fiveDeltas))
	// The fake sends delta i no sooner than i intervals after the first,
	// and the first after the request: the last cannot arrive sooner than
	// four intervals after the request. (A gap between two arrivals is no
	// bound: a late first arrival shortens the next gap.)
	assert.GreaterOrEqual(t, arrivals[len(arrivals)-1].Sub(start), time.Duration(len(fiveDeltas)-1)*25*time.Millisecond)
}

func TestOpenAISDKStall(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := openAIClient(url)
	stream := c.Chat.Completions.NewStreaming(ctx, openAIParams("x"))
	defer stream.Close()
	var deltas []string
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			deltas = append(deltas, ch.Choices[0].Delta.Content)
		}
		if len(deltas) == 2 {
			require.True(t, srv.WaitStalled(0, 30*time.Second), "the fake holds the stream after two deltas")
			cancel() // the client gives up on the stalled stream
		}
	}
	err := stream.Err()
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled) || ctx.Err() != nil, "err: %v", err)
	assert.Equal(t, []string{"a", " b"}, deltas, "nothing after the stall")
	after, ok := srv.WaitCancelled(0, 30*time.Second)
	require.True(t, ok, "the stall ended when the client left")
	assert.Positive(t, after)
}

func TestOpenAISDKStreamFaults(t *testing.T) {
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
		{"error event", fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 2, ErrorMessage: "boom"}, func(t *testing.T, err error) {
			var se *ssestream.StreamError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Message, "boom")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := start(t)
			srv.Enqueue(tc.reply)
			p := openAIParams("x")
			p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			deltas, acc, err := streamOpenAI(context.Background(), openAIClient(url), p)
			require.Error(t, err)
			tc.check(t, err)
			assert.Equal(t, []string{"a", " b"}, deltas)
			assert.Zero(t, acc.Usage.TotalTokens, "usage never arrived")
		})
	}
}

func TestOpenAISDKPlainFaults(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{MalformedAfter: 1}, fakellm.Reply{DisconnectAfter: 1}, fakellm.Reply{OmitUsage: true})
	c := openAIClient(url)
	_, err := c.Chat.Completions.New(context.Background(), openAIParams("x"))
	assert.Error(t, err, "malformed body")
	_, err = c.Chat.Completions.New(context.Background(), openAIParams("x"))
	assert.Error(t, err, "cut body")
	res, err := c.Chat.Completions.New(context.Background(), openAIParams("x"))
	require.NoError(t, err)
	assert.False(t, res.JSON.Usage.Valid())
}

func TestOpenAISDKEmbeddings(t *testing.T) {
	_, url := start(t)
	c := openAIClient(url)
	res, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"red apple", "green apple"}},
	})
	require.NoError(t, err)
	require.Len(t, res.Data, 2)
	assert.Len(t, res.Data[0].Embedding, 64)
	assert.Equal(t, fakellm.Embed("red apple", 64), res.Data[0].Embedding)
	var dot float64
	for i := range res.Data[0].Embedding {
		dot += res.Data[0].Embedding[i] * res.Data[1].Embedding[i]
	}
	assert.Greater(t, dot, 0.0, "shared words give positive similarity")
	assert.Equal(t, int64(4), res.Usage.PromptTokens)

	b64, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model:          "text-embedding-3-small",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("red apple")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	require.NoError(t, err)
	for i, x := range b64.Data[0].Embedding {
		assert.InDelta(t, res.Data[0].Embedding[i], x, 1e-6)
		assert.False(t, math.IsNaN(x))
	}
}
