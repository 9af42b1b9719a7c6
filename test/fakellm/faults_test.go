package fakellm_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

var fiveDeltas = []string{"a", " b", " c", " d", " e"}

func TestHeaderDelay(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{HeaderDelay: 80 * time.Millisecond})
	began := time.Now()
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x"))
	assert.GreaterOrEqual(t, time.Since(began), 80*time.Millisecond, "headers arrive only after the delay")
	_, err := readSSE(resp.Body)
	require.NoError(t, err)
}

func TestFirstTokenDelayAndTokenInterval(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, FirstTokenDelay: 60 * time.Millisecond, TokenInterval: 30 * time.Millisecond})
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x"))
	headersAt := time.Now()
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)

	// evs[0] is the role chunk, sent with the headers; deltas follow.
	assert.GreaterOrEqual(t, evs[1].At.Sub(headersAt), 55*time.Millisecond)
	for i := 2; i <= len(fiveDeltas); i++ {
		gap := evs[i].At.Sub(evs[i-1].At)
		assert.GreaterOrEqual(t, gap, 25*time.Millisecond, "delta %d arrived %v after the previous one", i, gap)
	}
}

// What precedes the first delta (OpenAI's role chunk, Anthropic's
// message_start) goes out with the headers, not with the first token: the
// client reads it while the fake stalls before any delta.
func TestStreamStartIsNotHeldBack(t *testing.T) {
	for _, tc := range []struct {
		path  string
		body  map[string]any
		first string
	}{
		{"/v1/chat/completions", openAIBody(true, false, "x"), `"role":"assistant"`},
		{"/v1/messages", anthropicBody(true, "x"), `"type":"message_start"`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			srv, url := start(t)
			srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: -1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp := post(t, ctx, url+tc.path, tc.body)
			lines := bufio.NewScanner(resp.Body)
			for lines.Scan() && !strings.HasPrefix(lines.Text(), "data:") {
			}
			require.Contains(t, lines.Text(), tc.first)
			_, cancelled := srv.WaitCancelled(0, 0)
			require.False(t, cancelled, "the fake is still stalled before its first delta")
			cancel()
			_, cancelled = srv.WaitCancelled(0, 30*time.Second)
			assert.True(t, cancelled)
		})
	}
}

func TestPlainResponseSimulatesGenerationTime(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, FirstTokenDelay: 20 * time.Millisecond, TokenInterval: 15 * time.Millisecond})
	began := time.Now()
	resp := post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "x"))
	assert.GreaterOrEqual(t, time.Since(began), 80*time.Millisecond)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// The stream stops after two deltas and stays stopped: only the client
// leaving ends it.
func TestStallUntilClientLeaves(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := post(t, ctx, url+"/v1/messages", anthropicBody(true, "x"))
	deltas := 0
	evs, err := readSSEWatching(resp.Body, func(ev sseEvent) {
		if ev.Name == "content_block_delta" {
			if deltas++; deltas == 2 {
				assert.True(t, srv.WaitStalled(0, 30*time.Second), "the fake holds the stream after two deltas")
				cancel()
			}
		}
	})
	require.Error(t, err, "the stream never finishes on its own")
	assert.Equal(t, []string{"a", " b"}, anthropicDeltas(jsonEvents(t, evs)))

	after, ok := srv.WaitCancelled(0, 30*time.Second)
	require.True(t, ok, "the stall ended when the client left")
	assert.Positive(t, after)
}

// A stall with StallUntil goes on when the test closes the channel.
func TestStallUntilReleased(t *testing.T) {
	srv, url := start(t)
	release := make(chan struct{})
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 2, StallUntil: release})
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x"))
	deltas := 0
	evs, err := readSSEWatching(resp.Body, func(ev sseEvent) {
		if strings.Contains(ev.Data, `"content":"`) {
			if deltas++; deltas == 2 {
				assert.True(t, srv.WaitStalled(0, 30*time.Second), "held after two deltas")
				close(release)
			}
		}
	})
	require.NoError(t, err)
	assert.Equal(t, fiveDeltas, openAIDeltas(jsonEvents(t, evs)))
	require.True(t, srv.WaitFinished(0, 30*time.Second))
	r, _ := srv.Request(0)
	assert.False(t, r.Cancelled)
}

func TestStallForResumes(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, StallAfter: 1, StallFor: 80 * time.Millisecond})
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x"))
	evs, err := readSSE(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, fiveDeltas, openAIDeltas(jsonEvents(t, evs)))
	// evs: role, a, (stall), b …
	assert.GreaterOrEqual(t, evs[2].At.Sub(evs[1].At), 70*time.Millisecond)
}

func TestMalformedChunkOnWire(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 2}, fakellm.Reply{Deltas: fiveDeltas, MalformedAfter: 2})

	for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
		body := openAIBody(true, false, "x")
		if path == "/v1/messages" {
			body = anthropicBody(true, "x")
		}
		evs, err := readSSE(post(t, context.Background(), url+path, body).Body)
		require.NoError(t, err, "the framing stays valid; only the JSON is broken")
		bad := -1
		for i, ev := range evs {
			if ev.Data != "[DONE]" && !json.Valid([]byte(ev.Data)) {
				require.Equal(t, -1, bad, "exactly one malformed event")
				bad = i
			}
		}
		require.NotEqual(t, -1, bad, path)
		before := evs[:bad]
		if path == "/v1/messages" {
			assert.Equal(t, "content_block_delta", evs[bad].Name)
			assert.Equal(t, []string{"a", " b"}, anthropicDeltas(jsonEvents(t, before)))
		} else {
			assert.Equal(t, []string{"a", " b"}, openAIDeltas(jsonEvents(t, before)))
		}
	}
}

func TestDisconnectMidStream(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 2})
	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, true, "x"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	evs, err := readSSE(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "chunked body is cut, not terminated")
	assert.Equal(t, []string{"a", " b"}, openAIDeltas(jsonEvents(t, evs)))

	require.True(t, srv.WaitFinished(0, 30*time.Second))
	r, _ := srv.Request(0)
	assert.False(t, r.Cancelled, "the server hung up, the client did not")
}

func TestErrorEventMidStream(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 1}, fakellm.Reply{Deltas: fiveDeltas, ErrorAfter: 1})

	evs, err := readSSE(post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "x")).Body)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	assert.Equal(t, "error", last.Name)
	assert.Contains(t, last.Data, `"overloaded_error"`)

	evs, err = readSSE(post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x")).Body)
	require.NoError(t, err)
	assert.Contains(t, evs[len(evs)-1].Data, `{"error":`)
}

func TestPositionFaultsAtStartAndClamp(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(
		fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: fakellm.AtStart},
		fakellm.Reply{Deltas: fiveDeltas, DisconnectAfter: 99},
	)
	evs, err := readSSE(post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "x")).Body)
	require.Error(t, err)
	assert.Empty(t, anthropicDeltas(jsonEvents(t, evs)))

	evs, err = readSSE(post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "x")).Body)
	require.Error(t, err)
	assert.Equal(t, fiveDeltas, anthropicDeltas(jsonEvents(t, evs)), "all deltas, then cut before the end events")
	assert.NotEqual(t, "message_stop", evs[len(evs)-1].Name)
}

func TestPlainFaults(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{MalformedAfter: 1}, fakellm.Reply{DisconnectAfter: 1})

	resp := post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x"))
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.False(t, json.Valid(data), "malformed plain body")

	resp = post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x"))
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestOmitUsage(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{OmitUsage: true}, fakellm.Reply{OmitUsage: true}, fakellm.Reply{OmitUsage: true})

	assert.NotContains(t, decode(t, post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x"))), "usage")

	evs, err := readSSE(post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, true, "x")).Body)
	require.NoError(t, err)
	for _, c := range jsonEvents(t, evs) {
		assert.NotEmpty(t, c["choices"], "no trailing usage chunk")
	}

	evs, err = readSSE(post(t, context.Background(), url+"/v1/messages", anthropicBody(true, "x")).Body)
	require.NoError(t, err)
	for _, ev := range evs {
		assert.NotContains(t, ev.Data, "usage")
	}
}

func TestServerDefaultsApplyToEveryReply(t *testing.T) {
	srv, url := start(t, fakellm.WithDefaults(fakellm.Reply{TokenInterval: 20 * time.Millisecond}))
	srv.Enqueue(fakellm.Reply{Deltas: []string{"x", "y", "z"}})
	began := time.Now()
	evs, err := readSSE(post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, false, "x")).Body)
	require.NoError(t, err)
	assert.Equal(t, "xyz", strings.Join(openAIDeltas(jsonEvents(t, evs)), ""))
	assert.GreaterOrEqual(t, time.Since(began), 40*time.Millisecond)
}

func TestCloseReleasesStalledHandlers(t *testing.T) {
	srv := fakellm.New(fakellm.WithDefaults(fakellm.Reply{StallAfter: 1}))
	url := srv.Start()
	go func() {
		resp, err := http.Post(url+"/v1/messages", "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"x"}],"stream":true}`))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}()
	require.True(t, srv.WaitForRequests(1, 30*time.Second))
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung on a stalled handler")
	}
}
