package httpapi

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
)

// recordedStream is what events writes to a stream through net/http's
// path (a recorder).
func recordedStream(events func(s *sseStream)) string {
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodPost, "/s", nil)
	events(startStream(c, "t1"))
	return rec.Body.String()
}

// A stream left on net/http (FOCAL_SSE_KEEP_CONNECTION, as over HTTP/2)
// flushes each event as it is written: the client reads the first token
// while the model is still blocked before its next delta.
func TestAKeptStreamFlushesEachEvent(t *testing.T) {
	firstToken := func(s *sseStream) { mustStream(s.token("hel")) }
	rest := func(s *sseStream) {
		mustStream(s.token("lo"))
		mustStream(s.done(&application.ChatResult{Response: "hello", TurnID: "t1"}))
	}
	wantFirst := recordedStream(firstToken)
	wantAll := recordedStream(func(s *sseStream) { firstToken(s); rest(s) })

	model := make(chan struct{}) // closed: the model sends its next delta
	var took atomic.Bool
	srv := streamServerWith(t, Config{WriteTimeout: time.Minute, SSEKeepConnection: true}, func(c *gin.Context) {
		s := startStream(c, "t1")
		took.Store(s.conn != nil)
		firstToken(s)
		<-model
		rest(s)
	}, nil)
	resp, err := http.Post(srv.URL+"/s", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)

	first := make(chan string, 1)
	go func() {
		var frame strings.Builder
		for {
			line, err := r.ReadString('\n')
			frame.WriteString(line)
			if err != nil || line == "\n" {
				first <- frame.String()
				return
			}
		}
	}()
	select {
	case got := <-first:
		assert.Equal(t, wantFirst, got)
	case <-time.After(30 * time.Second): // a watchdog: the frame comes at once or never
		close(model)
		t.Fatal("the first token was not flushed to the client while the model was blocked")
	}
	assert.False(t, took.Load(), "the stream stayed on net/http")
	close(model)
	tail, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, wantAll, wantFirst+string(tail))
}

// Once a stream has sent its final event (done or error), nothing more is
// written to it: not a heartbeat's ping, not a second final event.
func TestNothingIsWrittenAfterTheFinalEvent(t *testing.T) {
	for name, final := range map[string]func(c *gin.Context, s *sseStream) error{
		"done": func(_ *gin.Context, s *sseStream) error {
			return s.done(&application.ChatResult{Response: "hello", TurnID: "t1"})
		},
		"error": func(c *gin.Context, s *sseStream) error {
			s.fail(c, domain.Errorf(domain.CodeLLMUnavailable, "no model answers"))
			return nil
		},
	} {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodPost, "/s", nil)
		s := startStream(c, "t1")
		require.NoError(t, s.token("hel"), name)
		require.NoError(t, final(c, s), name)
		ended := rec.Body.String()
		require.Contains(t, ended, "event:"+name, name)

		s.ping()
		assert.Equal(t, ended, rec.Body.String(), "%s: a ping after the final event", name)
		assert.Error(t, s.done(&application.ChatResult{Response: "again", TurnID: "t1"}), name)
		s.fail(c, errors.New("late failure"))
		assert.Error(t, s.token("late"), name)
		assert.Equal(t, ended, rec.Body.String(), "%s: events after the final event", name)
	}
}
