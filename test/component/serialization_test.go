package component

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/harness"
)

// Fifty messages racing into one session become exactly fifty turns,
// numbered 1..50, none lost.
func TestConcurrentMessagesToOneSessionAreSerialized(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	_, first := chat(t, app, token, harness.ChatBody("racer-50", "hello"))
	sessionID := first["session_id"].(string)

	const n = 50
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			b := harness.ChatBody("racer-50", "what time do you close?")
			b["session_id"] = sessionID
			statuses[i] = app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: b}).Status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		require.Equal(t, http.StatusOK, s, "message %d", i)
	}

	var session map[string]any
	app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID, Token: token}).JSON(t, &session)
	assert.EqualValues(t, n+1, session["turn_count"])

	var numbers []int
	cursor := ""
	for {
		var page struct {
			Items []struct {
				TurnNumber int    `json:"turn_number"`
				Status     string `json:"status"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		path := "/v1/sessions/" + sessionID + "/turns?limit=20"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		app.Do(t, harness.Request{Method: http.MethodGet, Path: path, Token: token}).JSON(t, &page)
		for _, it := range page.Items {
			numbers = append(numbers, it.TurnNumber)
			assert.Equal(t, "completed", it.Status)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	require.Len(t, numbers, n+1)
	assert.True(t, sort.IntsAreSorted(numbers))
	for i, num := range numbers {
		assert.Equal(t, i+1, num)
	}
}

// A message for a session busy longer than the lock wait is refused with
// 409 SESSION_BUSY and Retry-After, and loses nothing: the session goes on.
func TestBusySessionAnswersSessionBusy(t *testing.T) {
	app, engine := startCounting(t, map[string]string{"FOCAL_SESSION_LOCK_WAIT": "200ms"}, true)
	token := harness.Token(t, harness.DemoTenant)
	first := holdTurn(t, app, engine, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("busy", "hello")})

	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/chat", Token: token, Body: harness.ChatBody("busy", "store hours?")})
	requireError(t, res, http.StatusConflict, "SESSION_BUSY")
	assert.Equal(t, "1", res.Header.Get("Retry-After"))

	close(engine.gate)
	done := <-first
	require.Equal(t, http.StatusOK, done.Status)
	var m map[string]any
	done.JSON(t, &m)
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + m["session_id"].(string), Token: token})
	var s map[string]any
	res.JSON(t, &s)
	assert.EqualValues(t, 1, s["turn_count"], "the refused message left no trace")
}

// The session listing is newest first, filters by agent and status, and
// pages without overlap.
func TestListSessions(t *testing.T) {
	app := harness.Start(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	var ids []string
	for i := range 5 {
		_, m := chat(t, app, token, harness.ChatBody(fmt.Sprintf("lister-%d", i), "hello"))
		ids = append(ids, m["session_id"].(string))
	}
	res := app.Do(t, harness.Request{Method: http.MethodPost, Path: "/v1/sessions/" + ids[0] + "/close", Token: token})
	require.Equal(t, http.StatusOK, res.Status)

	type page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	var got []string
	cursor := ""
	for {
		var p page
		path := "/v1/sessions?limit=2&agent_id=" + harness.DemoAgent
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		app.Do(t, harness.Request{Method: http.MethodGet, Path: path, Token: token}).JSON(t, &p)
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	assert.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, got, "newest first, every session once")

	var closed page
	app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions?status=closed", Token: token}).JSON(t, &closed)
	require.Len(t, closed.Items, 1)
	assert.Equal(t, ids[0], closed.Items[0].ID)

	body := requireError(t, app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions?status=open&limit=0", Token: token}),
		http.StatusBadRequest, "INVALID_REQUEST")
	assert.NotEmpty(t, body.Error.Details)
}
