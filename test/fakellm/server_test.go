package fakellm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func TestRecordsRequests(t *testing.T) {
	srv, url := start(t)
	post(t, context.Background(), url+"/v1/chat/completions", openAIBody(true, true, "first"))
	post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "second"))
	post(t, context.Background(), url+"/v1/embeddings", map[string]any{"input": "third"})

	require.Equal(t, 3, srv.Count())
	assert.Equal(t, 1, srv.CountAPI(fakellm.APIAnthropicMessages))
	reqs := srv.Requests()
	require.Len(t, reqs, 3)

	oa := reqs[0]
	assert.Equal(t, 0, oa.Index)
	assert.Equal(t, fakellm.APIOpenAIChat, oa.API)
	assert.Equal(t, http.MethodPost, oa.Method)
	assert.Equal(t, "/v1/chat/completions", oa.Path)
	assert.Equal(t, "yes", oa.Header.Get("X-Test"))
	assert.Equal(t, "gpt-test", oa.Model)
	assert.True(t, oa.Stream)
	assert.True(t, oa.IncludeUsage)
	assert.Equal(t, "be brief", oa.System)
	assert.Equal(t, "first", oa.LastUser())
	assert.Equal(t, []fakellm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "first"}}, oa.Messages)
	assert.Equal(t, "gpt-test", oa.Body["model"], "decoded body is kept verbatim")

	an := reqs[1]
	assert.Equal(t, fakellm.APIAnthropicMessages, an.API)
	assert.Equal(t, "be brief", an.System)
	assert.Equal(t, "second", an.LastUser(), "text blocks are flattened")
	assert.False(t, an.Stream)

	assert.Equal(t, []string{"third"}, reqs[2].Input)
	assert.Equal(t, "fake-model", reqs[2].Model, "server default model")

	for i := range reqs {
		require.True(t, srv.WaitFinished(i, 30*time.Second))
	}
	for _, r := range srv.Requests() {
		assert.True(t, r.Finished)
		assert.False(t, r.Cancelled, "completed requests are not cancellations")
	}
	last, ok := srv.Last()
	require.True(t, ok)
	assert.Equal(t, 2, last.Index)

	srv.Reset()
	assert.Zero(t, srv.Count())
}

func TestCancellationIsTimed(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{StallAfter: 1})
	ctx, cancel := context.WithCancel(context.Background())
	resp := post(t, ctx, url+"/v1/chat/completions", openAIBody(true, false, "x"))
	buf := make([]byte, 1)
	_, err := resp.Body.Read(buf) // the stream is open and stalled
	require.NoError(t, err)

	time.Sleep(60 * time.Millisecond)
	cancelledAt := time.Now()
	cancel()

	after, ok := srv.WaitCancelled(0, 30*time.Second)
	require.True(t, ok)
	r, _ := srv.Request(0)
	seenAt := r.Start.Add(after)
	assert.False(t, seenAt.Before(cancelledAt), "the cancel is timed when the server saw it, after the client cancelled")
	assert.GreaterOrEqual(t, after, 60*time.Millisecond)
	assert.True(t, r.Cancelled)
	assert.Equal(t, after, r.CancelledAfter)
}

func TestWaitCancelledFalseWhenCompleted(t *testing.T) {
	srv, url := start(t)
	post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "x"))
	_, ok := srv.WaitCancelled(0, 30*time.Second)
	assert.False(t, ok)
}

func TestQueueThenResponder(t *testing.T) {
	srv, url := start(t, fakellm.WithResponder(fakellm.Fixed("fallback")))
	srv.Enqueue(fakellm.Reply{Text: "one"}, fakellm.Reply{TokenInterval: time.Millisecond})

	content := func() string {
		m := decode(t, post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x")))
		return m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)["content"].(string)
	}
	assert.Equal(t, "one", content())
	assert.Equal(t, "fallback", content(), "a scripted reply without text borrows the responder's")
	srv.SetResponder(func(req fakellm.Request) fakellm.Reply {
		return fakellm.Reply{Text: fmt.Sprintf("#%d %s", req.Index, req.LastUser())}
	})
	assert.Equal(t, "#2 x", content())
}

func TestFailNextThenSucceed(t *testing.T) {
	srv, url := start(t)
	srv.Enqueue(fakellm.Reply{Text: "queued"})
	srv.FailNext(2, fakellm.Reply{})

	var statuses []int
	for range 3 {
		resp := post(t, context.Background(), url+"/v1/messages", anthropicBody(false, "x"))
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusOK {
			m := decode(t, resp)
			assert.Equal(t, "queued", m["content"].([]any)[0].(map[string]any)["text"], "failures do not consume the queue")
		}
	}
	assert.Equal(t, []int{503, 503, 200}, statuses)

	srv.FailNext(1, fakellm.Reply{Status: 500})
	resp := post(t, context.Background(), url+"/v1/embeddings", map[string]any{"input": "x"})
	assert.Equal(t, 500, resp.StatusCode, "FailNext covers every endpoint")
}

// The requests the fake answers at once (a probe, an unknown path, a body
// without messages) take no reply: a pending failure and the queue wait
// for the next request that asks the model.
func TestRequestsAnsweredAtOnceTakeNoReply(t *testing.T) {
	srv, url := start(t)
	srv.FailNext(1, fakellm.Reply{Status: 500})
	srv.Enqueue(fakellm.Reply{Text: "queued"})
	probe, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	_ = probe.Body.Close()
	assert.Equal(t, http.StatusOK, probe.StatusCode)
	assert.Equal(t, http.StatusNotFound, post(t, context.Background(), url+"/v1/nowhere", openAIBody(false, false, "x")).StatusCode)
	assert.Equal(t, http.StatusBadRequest, post(t, context.Background(), url+"/v1/chat/completions", map[string]any{"model": "m"}).StatusCode)

	assert.Equal(t, 500, post(t, context.Background(), url+"/v1/chat/completions", openAIBody(false, false, "x")).StatusCode)
	assert.Equal(t, "queued", chatText(url))
	assert.Equal(t, 5, srv.Count(), "every request is recorded")
}

func TestConcurrentRequests(t *testing.T) {
	srv, url := start(t, fakellm.WithDefaults(fakellm.Reply{TokenInterval: time.Millisecond}))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			path, body := "/v1/chat/completions", openAIBody(i%2 == 0, true, fmt.Sprint(i))
			if i%3 == 0 {
				path, body = "/v1/messages", anthropicBody(i%2 == 0, fmt.Sprint(i))
			}
			data, _ := json.Marshal(body)
			resp, err := http.Post(url+path, "application/json", bytes.NewReader(data))
			if assert.NoError(t, err) {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 20, srv.Count())
	seen := map[int]bool{}
	for _, r := range srv.Requests() {
		seen[r.Index] = true
	}
	assert.Len(t, seen, 20)
}

func TestMountedWithoutStart(t *testing.T) {
	srv := fakellm.New(fakellm.WithModel("m"))
	defer srv.Close()
	assert.Empty(t, srv.URL())
	ts := httptest.NewServer(srv)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, fakellm.APIHealth, srv.Requests()[0].API)
}

// A request WaitForRequests counts has taken its reply: one queued after
// the wait goes to the next request, even while the first request's
// handler is held right after the server recorded it. A test that moves a
// clock or queues the next script once the wait returns cannot have the
// first request take a later request's reply.
func TestAWaitedRequestHasTakenItsReply(t *testing.T) {
	srv, url := start(t)
	release := make(chan struct{})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free) // before srv.Close, which waits for handlers
	fakellm.OnRecorded(srv, func(req fakellm.Request) {
		if req.Index == 0 {
			<-release
		}
	})
	srv.Enqueue(fakellm.Reply{Text: "first"})
	first := make(chan string, 1)
	go func() { first <- chatText(url) }()

	require.True(t, srv.WaitForRequests(1, 30*time.Second))
	srv.Enqueue(fakellm.Reply{Text: "second"})
	assert.Equal(t, "second", chatText(url), "the held request had taken the first reply")
	free()
	select {
	case got := <-first:
		assert.Equal(t, "first", got)
	case <-time.After(30 * time.Second):
		t.Fatal("the held request was not answered")
	}
}

// chatText asks url's OpenAI chat endpoint, without streaming, and returns
// the reply's text or the error met; it may run off the test's goroutine.
func chatText(url string) string {
	data, _ := json.Marshal(openAIBody(false, false, "x"))
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(data))
	if err != nil {
		return err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	var m struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || len(m.Choices) == 0 {
		return fmt.Sprintf("no reply (status %d, %v)", resp.StatusCode, err)
	}
	return m.Choices[0].Message.Content
}
