package llm

import (
	"context"
	"encoding/json"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// handlerDepth is about how much of its stack a streaming turn's handler
// goroutine has used when it calls the model adapter: OpenAI.StreamChat
// was called 9.2 KiB deep on make bench's idle streams (gdb: the stack
// pointer against the goroutine's stack top, 10.0 KiB with StreamChat's
// own frame), on a 16 KiB stack, and the turn then waits for tokens in
// it. Decoding the stream's chunks must fit in what is left: where it did
// not (the role chunk's decoding reached 15.5 KiB), the runtime doubled
// every waiting stream's stack to 32 KiB for as long as it waited. The
// test calls the adapter 9.5 KiB deep, plus its own closure's frame;
// under the race detector, whose instrumented frames and doubled stack
// guard take about 2 KiB more for the same calls, 1.5 KiB less deep
// (raceDepthAllowance), so that it holds the same room.
const handlerDepth = 9728 - raceDepthAllowance

// TestModelStreamsDecodeWithinAStreamingHandlersStack streams a reply (the
// role chunk, deltas, the finish and usage chunks) with the adapter called
// handlerDepth deep on a fresh goroutine, and checks that the goroutine's
// stack was not grown meanwhile: a grown stack is copied, moving the
// calling frame's locals. Stacks are only shrunk when less than a quarter
// is in use, which 9.5 KiB of 16 never is, so nothing else moves them.
func TestModelStreamsDecodeWithinAStreamingHandlersStack(t *testing.T) {
	for name, open := range map[string]func(*testing.T, string) ports.ChatModel{
		"openai":    func(t *testing.T, url string) ports.ChatModel { return newOpenAI(t, url) },
		"anthropic": func(t *testing.T, url string) ports.ChatModel { return newAnthropic(t, url) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, url := fake(t)
			deltas := []string{"Hi", " there", ",\n", "\tfriend \u00e9\u2028", `"quoted"`}
			m := open(t, url)
			// A first stream, at no particular depth: the first decoding of a
			// type builds encoding/json's cache of its fields, once per process.
			srv.Enqueue(fakellm.Reply{Deltas: deltas})
			_, _, err := collect(context.Background(), m, chatRequest("hello"))
			require.NoError(t, err)
			srv.Enqueue(fakellm.Reply{Deltas: deltas})
			got, grown := streamAtDepth(m, handlerDepth)
			require.NoError(t, got.err)
			assert.Equal(t, deltas, got.deltas)
			assert.Equal(t, domain.TokenUsage{Prompt: 4, Completion: 5}, got.res.Usage, "the usage was read too")
			assert.False(t, grown, "decoding the model's stream grew the stack of a handler that called it %.1f KiB deep", float64(handlerDepth)/1024)
		})
	}
}

// streamed is what one StreamChat call gave.
type streamed struct {
	deltas []string
	res    ports.ChatResult
	err    error
}

// streamAtDepth runs one StreamChat call depth deep on a goroutine of its
// own and reports whether that goroutine's stack grew meanwhile.
func streamAtDepth(m ports.ChatModel, depth uintptr) (got streamed, grown bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		grown = atDepth(depth, func() {
			got.res, got.err = m.StreamChat(context.Background(), chatRequest("hello there"), func(d string) error {
				got.deltas = append(got.deltas, d)
				return nil
			})
		})
	}()
	<-done
	return got, grown
}

// atDepth calls f once the stack is depth bytes deeper than this call's
// frame, and reports whether the stack moved while f ran.
//
//go:noinline
func atDepth(depth uintptr, f func()) (moved bool) {
	var top byte
	return descend(&top, depth, f)
}

// descend calls itself until it is depth bytes below top, then calls f
// and reports whether the stack moved meanwhile: a stack that grows is
// copied, which changes the address of a local. top is a pointer, which
// the runtime keeps pointing at the right place when a stack is copied
// (during the descent, from the goroutine's first small stack up).
//
//go:noinline
func descend(top *byte, depth uintptr, f func()) (moved bool) {
	var pad [64]byte
	here := uintptr(unsafe.Pointer(&pad))
	if uintptr(unsafe.Pointer(top))-here < depth {
		return descend(top, depth, f) || pad[len(pad)-1] != 0
	}
	f()
	return uintptr(unsafe.Pointer(&pad)) != here
}

// TestChatChunksReadAsOneDecodingReadsThem: a chunk read a level at a time
// (chatChunk, then chatChunkRead.decode) gives what one encoding/json call
// on the whole chunk gives, values and whether it fails.
func TestChatChunksReadAsOneDecodingReadsThem(t *testing.T) {
	type whole struct {
		Model   string `json:"model"`
		Choices []struct {
			Index int64 `json:"index"`
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	chunks := []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
		`{"model":"m","choices":[{"index":0,"delta":{"content":"a\u00e9\n\"b\"","tool_calls":[{"function":{"arguments":"{}"}}]}}]}`,
		`{"model":"m","choices":[{"index":1,"delta":{"content":"x"}},{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"model":"m","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9}}`,
		`{"model":"m","choices":null,"usage":null}`,
		`{"Model":"M","CHOICES":[{"Delta":{"Content":"folded"}}]}`,
		`{}`,
		`{"model":"m","choices":[{"delta":{"content":5}}]}`,
		`{"model":"m","choices":{"index":0}}`,
		`{"model":"m","usage":{"prompt_tokens":"4"}}`,
		`{"model":"m","choices":[{"index":1.5}]}`,
	}
	for _, c := range chunks {
		var want whole
		wantErr := json.Unmarshal([]byte(c), &want)
		var chunk chatChunk
		var read chatChunkRead
		err := json.Unmarshal([]byte(c), &chunk)
		if err == nil {
			err = read.decode(&chunk)
		}
		if wantErr != nil {
			assert.Error(t, err, c)
			continue
		}
		require.NoError(t, err, c)
		assert.Equal(t, want.Model, read.model, c)
		assert.Equal(t, chatChunk{}, chunk, "the decoded chunk keeps none of its data")
		assert.Equal(t, want.Usage.PromptTokens, read.usage.PromptTokens, c)
		assert.Equal(t, want.Usage.CompletionTokens, read.usage.CompletionTokens, c)
		require.Len(t, read.choices, len(want.Choices), c)
		assert.Equal(t, want.Choices == nil, read.choices == nil, c)
		for i, w := range want.Choices {
			got := read.choices[i]
			assert.Equal(t, w.Index, got.Index, c)
			assert.Equal(t, w.Delta.Content, got.delta.Content, c)
			assert.Equal(t, w.FinishReason, got.FinishReason, c)
		}
	}
}

// TestMessageEventsReadAsOneDecodingReadsThem is
// TestChatChunksReadAsOneDecodingReadsThem for Anthropic's stream events.
func TestMessageEventsReadAsOneDecodingReadsThem(t *testing.T) {
	type whole struct {
		Type    string `json:"type"`
		Message struct {
			Model string         `json:"model"`
			Usage anthropicUsage `json:"usage"`
		} `json:"message"`
		Delta struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"delta"`
		Usage anthropicUsage `json:"usage"`
	}
	events := []string{
		`{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":4,"cache_read_input_tokens":2,"output_tokens":1}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\u00e9\n\"b\""}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`,
		`{"type":"ping","message":null,"delta":null,"usage":null}`,
		`{"TYPE":"content_block_delta","Delta":{"Type":"text_delta","Text":"folded"}}`,
		`{"type":"content_block_delta","delta":{"text":5}}`,
		`{"type":"message_start","message":{"usage":{"input_tokens":"4"}}}`,
		`{"type":"message_delta","usage":[]}`,
	}
	for _, e := range events {
		var want whole
		wantErr := json.Unmarshal([]byte(e), &want)
		var ev messageEvent
		var read messageEventRead
		err := json.Unmarshal([]byte(e), &ev)
		if err == nil {
			err = read.decode(&ev)
		}
		if wantErr != nil {
			assert.Error(t, err, e)
			continue
		}
		require.NoError(t, err, e)
		assert.Equal(t, want.Type, read.typ, e)
		assert.Equal(t, messageEvent{}, ev, "the decoded event keeps none of its data")
		assert.Equal(t, want.Message.Model, read.message.Model, e)
		assert.Equal(t, want.Message.Usage, read.messageUsage, e)
		assert.Equal(t, want.Delta.Type, read.delta.Type, e)
		assert.Equal(t, want.Delta.Text, read.delta.Text, e)
		assert.Equal(t, want.Usage, read.usage, e)
	}
}
