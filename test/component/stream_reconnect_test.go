package component

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
	"focal/test/harness"
)

// streamEvent is one event of a /v1/chat/stream body.
type streamEvent struct {
	ID, Name, Data string
}

// streamEvents splits an SSE body into its events, skipping comments.
func streamEvents(t *testing.T, body []byte) []streamEvent {
	t.Helper()
	var events []streamEvent
	for _, block := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		var ev streamEvent
		for _, line := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "id":
				ev.ID = v
			case "event":
				ev.Name = v
			case "data":
				ev.Data = v
			}
		}
		if ev.Name != "" {
			events = append(events, ev)
		}
	}
	return events
}

// plainStream is a /v1/chat/stream request to the plain agent.
func plainStream(token, user, message string, headers map[string]string) harness.Request {
	body := harness.ChatBody(user, message)
	body["agent_id"] = plainAgent
	return harness.Request{Method: http.MethodPost, Path: "/v1/chat/stream", Token: token, Body: body, Headers: headers}
}

// A reconnect naming event n replays the events after n of the finished
// turn: the first replayed id is n+1, and the replayed tokens are the
// reply less what the client had seen.
func TestStreamReconnectReplaysTheEventsAfterTheOneNamed(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)
	fake.Enqueue(fakellm.Reply{Deltas: []string{"One, ", "two, ", "three."}})

	first := app.Do(t, plainStream(token, "reconnecting-user", "count to three", nil))
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	events := streamEvents(t, first.Body)
	require.Len(t, events, 4, "three tokens and done: %s", first.Body)
	var firstToken struct {
		Content string `json:"content"`
	}
	require.NoError(t, json.Unmarshal([]byte(events[0].Data), &firstToken))
	turnID, _, _ := strings.Cut(events[0].ID, ":")
	require.Equal(t, turnID+":1", events[0].ID)

	again := app.Do(t, plainStream(token, "reconnecting-user", "count to three",
		map[string]string{"Last-Event-ID": turnID + ":1"}))
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	replayed := streamEvents(t, again.Body)
	require.NotEmpty(t, replayed, "%s", again.Body)
	assert.Equal(t, turnID+":2", replayed[0].ID, "the replay starts after the event named")
	var joined strings.Builder
	for _, ev := range replayed[:len(replayed)-1] {
		require.Equal(t, "token", ev.Name, "%s", again.Body)
		var tok struct {
			Content string `json:"content"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &tok))
		joined.WriteString(tok.Content)
	}
	last := replayed[len(replayed)-1]
	require.Equal(t, "done", last.Name, "%s", again.Body)
	var done struct {
		Response string `json:"response"`
	}
	require.NoError(t, json.Unmarshal([]byte(last.Data), &done))
	assert.Equal(t, strings.TrimPrefix(done.Response, firstToken.Content), joined.String())
	assert.Equal(t, "One, two, three.", done.Response)
	assert.Equal(t, 1, fake.Count(), "the replay does not call the model")
}

// A reconnect to a turn that did not complete ends with an error event
// carrying the turn's code, never with done.
func TestStreamReconnectToAFailedTurnEndsWithAnError(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)
	fake.FailNext(1, fakellm.Reply{Status: http.StatusBadRequest})

	first := app.Do(t, plainStream(token, "failing-user", "Hello", nil))
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	events := streamEvents(t, first.Body)
	require.NotEmpty(t, events)
	require.Equal(t, "error", events[len(events)-1].Name, "%s", first.Body)
	turnID, _, _ := strings.Cut(events[len(events)-1].ID, ":")
	var original struct {
		Code string `json:"code"`
	}
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].Data), &original))

	again := app.Do(t, plainStream(token, "failing-user", "Hello", map[string]string{"Last-Event-ID": turnID + ":0"}))
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	replayed := streamEvents(t, again.Body)
	require.NotEmpty(t, replayed, "%s", again.Body)
	last := replayed[len(replayed)-1]
	require.Equal(t, "error", last.Name, "%s", again.Body)
	var failure struct {
		Code string `json:"code"`
	}
	require.NoError(t, json.Unmarshal([]byte(last.Data), &failure))
	assert.NotEmpty(t, failure.Code)
	assert.Equal(t, original.Code, failure.Code, "the code the turn ended with")
	assert.NotContains(t, string(again.Body), "event:done")
}

// A reconnect to a turn that is still running is 409 TURN_IN_PROGRESS with
// Retry-After, never 404 (which tells the client to send its message
// again); once the turn is recorded the same reconnect replays it.
func TestStreamReconnectToARunningTurnIsRetriedNotRefused(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)
	lastSeen, finished, free := streamHeldAtItsFirstEvent(t, app, fake, plainStream(token, "running-user", "count to two", nil))
	turnID, _, _ := strings.Cut(lastSeen, ":")

	busy := app.Do(t, plainStream(token, "running-user", "count to two", map[string]string{"Last-Event-ID": lastSeen}))
	requireError(t, busy, http.StatusConflict, "TURN_IN_PROGRESS")
	assert.Equal(t, "1", busy.Header.Get("Retry-After"))

	free()
	require.Equal(t, http.StatusOK, (<-finished).Status)
	again := app.Do(t, plainStream(token, "running-user", "count to two", map[string]string{"Last-Event-ID": lastSeen}))
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	replayed := streamEvents(t, again.Body)
	require.Len(t, replayed, 2, "%s", again.Body)
	assert.Equal(t, turnID+":2", replayed[0].ID)
	assert.Equal(t, "done", replayed[1].Name)
	assert.Equal(t, 1, fake.Count(), "neither reconnect ran the turn")
}

// A reconnect that carries its stream's Idempotency-Key is a retry of that
// request (docs/api.md): the key answers it before Last-Event-ID is read,
// with IDEMPOTENCY_IN_PROGRESS while the turn runs, never TURN_IN_PROGRESS,
// and then with the stored answer, the whole reply from event 1.
func TestStreamReconnectWithTheStreamsKeyIsAnsweredByTheKey(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h", "FOCAL_IDEMPOTENCY_WAIT": "0s"})
	token := harness.Token(t, harness.DemoTenant)
	key := map[string]string{"Idempotency-Key": "k-reconnect-stream"}
	lastSeen, finished, free := streamHeldAtItsFirstEvent(t, app, fake, plainStream(token, "keyed-user", "count to two", key))
	turnID, _, _ := strings.Cut(lastSeen, ":")
	reconnect := plainStream(token, "keyed-user", "count to two",
		map[string]string{"Idempotency-Key": key["Idempotency-Key"], "Last-Event-ID": lastSeen})

	requireError(t, app.Do(t, reconnect), http.StatusConflict, "IDEMPOTENCY_IN_PROGRESS")

	free()
	require.Equal(t, http.StatusOK, (<-finished).Status)
	again := app.Do(t, reconnect)
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	replayed := streamEvents(t, again.Body)
	require.Len(t, replayed, 2, "%s", again.Body)
	assert.Equal(t, turnID+":1", replayed[0].ID, "the stored answer from its start, not the events after the one named")
	assert.JSONEq(t, `{"type":"token","content":"One, two."}`, replayed[0].Data)
	assert.Equal(t, "done", replayed[1].Name)
	assert.Equal(t, 1, fake.Count(), "neither reconnect ran the turn")
}

// A turn id no running turn can have is 404 TURN_NOT_FOUND: one made longer
// ago than a turn can last (docs/api.md: twice FOCAL_TURN_TIMEOUT and
// FOCAL_SESSION_LOCK_WAIT, and 25 s), one made further ahead than clocks
// disagree, or not a turn id at all (version 4).
func TestStreamReconnectToATurnThatCannotBeRunningIsNotFound(t *testing.T) {
	app, _ := startOnFakeModel(t, map[string]string{"FOCAL_TURN_TIMEOUT": "10s", "FOCAL_SESSION_LOCK_WAIT": "5s"})
	token := harness.Token(t, harness.DemoTenant)
	longest := 2*10*time.Second + 2*5*time.Second + 25*time.Second
	for name, id := range map[string]string{
		"just within": turnIDMadeAt(time.Now().Add(-longest + 5*time.Second)),
		"just past":   turnIDMadeAt(time.Now().Add(-longest - 5*time.Second)),
		"version 4":   uuid.NewString(),
		"an hour on":  turnIDMadeAt(time.Now().Add(time.Hour)),
	} {
		res := app.Do(t, plainStream(token, "absent-user", "hello", map[string]string{"Last-Event-ID": id + ":1"}))
		if name == "just within" {
			requireError(t, res, http.StatusConflict, "TURN_IN_PROGRESS")
			continue
		}
		requireError(t, res, http.StatusNotFound, "TURN_NOT_FOUND")
	}
}

// turnIDMadeAt is a version 7 UUID, as Focal makes turn ids, made at at.
func turnIDMadeAt(at time.Time) string {
	u := uuid.New()
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f
	return u.String()
}

// streamHeldAtItsFirstEvent sends req, a stream the fake model answers
// with one delta and then holds until free is called (or the test ends),
// and returns the id of its first event once the client has read it, and
// the stream's answer when it ends.
func streamHeldAtItsFirstEvent(t *testing.T, app *harness.App, fake *fakellm.Server, req harness.Request) (string, chan *harness.Response, func()) {
	t.Helper()
	release := make(chan struct{})
	var released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free) // a failed assertion must not leave the turn held
	fake.Enqueue(fakellm.Reply{Deltas: []string{"One, ", "two."}, StallAfter: 1, StallUntil: release})
	firstID := make(chan string, 1)
	finished := make(chan *harness.Response, 1)
	go func() {
		var once sync.Once
		finished <- app.DoWatching(t, req, func(soFar []byte) {
			if events := streamEvents(t, soFar); len(events) > 0 && strings.HasSuffix(string(soFar), "\n\n") {
				once.Do(func() { firstID <- events[0].ID })
			}
		})
	}()
	select {
	case id := <-firstID:
		return id, finished, free
	case res := <-finished:
		t.Fatalf("the stream ended before the model was released: %s", res.Body)
		return "", nil, nil
	}
}

// A reconnect replays only the message's own conversation: a turn of
// another channel identity, of another agent, or of another session than
// the one the reconnect names is 404 TURN_NOT_FOUND (replayed, it would
// answer this customer with another's reply), and a reconnect that is not
// a valid message is 400 before any turn is read, as the message is.
func TestStreamReconnectToAnotherConversationsTurnIsNotFound(t *testing.T) {
	app, fake := startOnFakeModel(t, map[string]string{"FOCAL_SSE_HEARTBEAT": "1h"})
	token := harness.Token(t, harness.DemoTenant)
	fake.Enqueue(fakellm.Reply{Deltas: []string{"Yours, ", "only."}})
	first := app.Do(t, plainStream(token, "owner", "whose reply", nil))
	require.Equal(t, http.StatusOK, first.Status, "%s", first.Body)
	events := streamEvents(t, first.Body)
	require.NotEmpty(t, events)
	lastSeen := events[0].ID
	var done struct {
		SessionID string `json:"session_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-1].Data), &done))

	reconnect := func(change func(body map[string]any)) *harness.Response {
		req := plainStream(token, "owner", "whose reply", map[string]string{"Last-Event-ID": lastSeen})
		change(req.Body.(map[string]any))
		return app.Do(t, req)
	}
	for name, change := range map[string]func(map[string]any){
		"another user_channel_id": func(b map[string]any) { b["user_channel_id"] = "someone-else" },
		"another channel":         func(b map[string]any) { b["channel"] = "sms" },
		"another agent":           func(b map[string]any) { b["agent_id"] = harness.DemoAgent },
		"another session":         func(b map[string]any) { b["session_id"] = uuid.NewString() },
	} {
		res := reconnect(change)
		requireError(t, res, http.StatusNotFound, "TURN_NOT_FOUND")
		assert.NotContains(t, string(res.Body), "Yours", name)
	}
	requireError(t, reconnect(func(b map[string]any) { b["channel"] = "Not A Channel" }), http.StatusBadRequest, "INVALID_REQUEST")

	own := reconnect(func(b map[string]any) { b["session_id"] = done.SessionID })
	require.Equal(t, http.StatusOK, own.Status, "%s", own.Body)
	replayed := streamEvents(t, own.Body)
	require.NotEmpty(t, replayed, "%s", own.Body)
	assert.Equal(t, "done", replayed[len(replayed)-1].Name)
	assert.Contains(t, replayed[len(replayed)-1].Data, "Yours, only.")
	assert.Equal(t, 1, fake.Count(), "no reconnect ran a turn")
}
