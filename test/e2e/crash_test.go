package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

// crashRun is one run of turns against a focal process killed midway.
const (
	crashWorkers = 8
	crashTurns   = 200 // crashWorkers sessions of crashTurns/crashWorkers turns each
	crashAfter   = 100 // acknowledged turns before the SIGKILL
)

// ackedTurn is a turn the service acknowledged with 200.
type ackedTurn struct {
	Session, TurnID, Message, Response string
}

// A focal process killed with SIGKILL in the middle of 200 turns loses
// none it acknowledged and stores none twice: after a restart on the same
// store every acknowledged turn is there as answered, each message is
// stored at most once, turn numbers run without gap, and the remaining
// turns complete on the same sessions once the dead process's leases
// expire.
func TestSIGKILLLosesNoAcknowledgedTurn(t *testing.T) {
	stores := []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string {
			return []string{"FOCAL_STORE=sqlite", "FOCAL_SQLITE_PATH=" + filepath.Join(t.TempDir(), "focal.db")}
		}},
		{"postgres", func(t *testing.T) []string {
			return []string{"FOCAL_STORE=postgres", "FOCAL_POSTGRES_URL=" + freshPostgresDB(t)}
		}},
	}
	for _, store := range stores {
		t.Run(store.name, func(t *testing.T) {
			t.Parallel()
			env := append(store.env(t), "FOCAL_JWT_SECRET="+e2eSecret, "FOCAL_BOOTSTRAP_BUNDLE=examples/demo-agent.yaml",
				"FOCAL_RATE_LIMIT_FREE=100000", "FOCAL_TURN_TIMEOUT=3s")
			crashAndRecover(t, env)
		})
	}
}

func crashAndRecover(t *testing.T, env []string) {
	token, err := httpapi.SignToken(e2eSecret, httpapi.TokenRequest{TenantID: harness.DemoTenant, TTL: time.Hour}, time.Now())
	require.NoError(t, err)
	first := serveFocal(t, env...)
	run := &crashRun{token: token, addr: first.addr}
	began := time.Now()
	run.sendAll(func() { _ = first.cmd.Process.Kill() })
	t.Logf("%d turns acknowledged in %s before the kill", len(run.ackedTurns()), time.Since(began).Round(time.Millisecond))
	_ = first.wait()
	acked := run.ackedTurns()
	require.GreaterOrEqual(t, len(acked), crashAfter, "the process was killed after %d acknowledged turns", crashAfter)
	require.Less(t, len(acked), crashTurns, "the kill came before the last turn")

	second := serveFocal(t, env...)
	stored := storedTurns(t, second.addr, token)
	lost, duplicates := compareTurns(t, acked, stored)
	t.Logf("killed after %d acknowledged turns: %d stored, %d lost, %d duplicates", len(acked), len(stored), lost, duplicates)
	assert.Zero(t, lost, "acknowledged turns lost")
	assert.Zero(t, duplicates, "messages stored twice")

	// The rest of the 200 complete on the restarted process.
	run.addr = second.addr
	began = time.Now()
	run.sendRest(t, stored)
	t.Logf("the remaining turns took %s after the restart (the dead process's leases expire first)", time.Since(began).Round(time.Millisecond))
	final := storedTurns(t, second.addr, token)
	_, duplicates = compareTurns(t, run.ackedTurns(), final)
	assert.Zero(t, duplicates)
	assert.LessOrEqual(t, crashTurns-crashWorkers, len(final), "all but the turns cut off by the kill are stored")
	assert.LessOrEqual(t, len(final), crashTurns)
	sessions := map[string]bool{}
	for _, turn := range final {
		sessions[turn.SessionID] = true
	}
	assert.Len(t, sessions, crashWorkers, "each user's turns continue in the user's one session")
}

// crashRun sends the turns: worker w sends messages w*n .. w*n+n-1 in
// order on its own user's session.
type crashRun struct {
	token string
	addr  string
	mu    sync.Mutex
	acked []ackedTurn
	// cut is, per worker, the turn whose request the kill cut off (-1:
	// none): its key's claim stays until it expires, so it is not resent.
	cut [crashWorkers]int
}

func crashMessage(w, j int) string {
	return fmt.Sprintf("Where is my order? (turn %d of user %d)", j, w)
}

// sendAll runs every worker until its turns are sent or a request fails
// (the process died); kill is called once crashAfter turns are
// acknowledged.
func (r *crashRun) sendAll(kill func()) {
	var n atomic.Int32
	var once sync.Once
	var wg sync.WaitGroup
	for w := range crashWorkers {
		r.cut[w] = -1
		wg.Go(func() {
			for j := range crashTurns / crashWorkers {
				if _, err := r.send(w, j); err != nil {
					r.cut[w] = j
					return
				}
				if n.Add(1) == crashAfter {
					once.Do(kill)
				}
			}
		})
	}
	wg.Wait()
}

// sendRest sends, one worker per session, every turn not sent before the
// crash.
func (r *crashRun) sendRest(t *testing.T, stored map[string]storedTurn) {
	done := map[string]bool{}
	for _, s := range stored {
		done[s.Message] = true
	}
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			for j := range crashTurns / crashWorkers {
				if done[crashMessage(w, j)] || j <= r.cut[w] {
					continue
				}
				_, err := r.send(w, j)
				assert.NoError(t, err, "user %d turn %d after the restart", w, j)
			}
		})
	}
	wg.Wait()
}

// send posts one turn and records it when acknowledged.
func (r *crashRun) send(w, j int) (ackedTurn, error) {
	msg := crashMessage(w, j)
	body, _ := json.Marshal(map[string]any{"agent_id": harness.DemoAgent, "channel": "web",
		"user_channel_id": fmt.Sprintf("crash-user-%d", w), "message": msg})
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/v1/chat", bytes.NewReader(body))
	if err != nil {
		return ackedTurn{}, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d-%d", w, j))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return ackedTurn{}, err
	}
	defer res.Body.Close()
	var out struct {
		SessionID string `json:"session_id"`
		TurnID    string `json:"turn_id"`
		Response  string `json:"response"`
	}
	if res.StatusCode != http.StatusOK {
		var problem bytes.Buffer
		_, _ = problem.ReadFrom(res.Body)
		return ackedTurn{}, fmt.Errorf("status %d: %s", res.StatusCode, problem.String())
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return ackedTurn{}, err // cut off mid-body: not acknowledged
	}
	a := ackedTurn{Session: out.SessionID, TurnID: out.TurnID, Message: msg, Response: out.Response}
	r.mu.Lock()
	r.acked = append(r.acked, a)
	r.mu.Unlock()
	return a, nil
}

func (r *crashRun) ackedTurns() []ackedTurn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ackedTurn(nil), r.acked...)
}

// storedTurn is a turn as GET /v1/sessions/{id}/turns lists it.
type storedTurn struct {
	ID         string `json:"id"`
	SessionID  string `json:"session_id"`
	TurnNumber int    `json:"turn_number"`
	Message    string `json:"message"`
	Response   string `json:"response"`
}

// storedTurns reads every turn of every session of the demo tenant, by
// turn id, checking that each session's turns are numbered 1, 2, 3...
func storedTurns(t *testing.T, addr, token string) map[string]storedTurn {
	app := harness.At("http://" + addr)
	var sessions []struct {
		ID string `json:"id"`
	}
	listAll(t, app, token, "/v1/sessions", &sessions)
	out := map[string]storedTurn{}
	for _, s := range sessions {
		var turns []storedTurn
		listAll(t, app, token, "/v1/sessions/"+s.ID+"/turns?order=asc", &turns)
		for i, turn := range turns {
			assert.Equal(t, i+1, turn.TurnNumber, "session %s: turn numbers without gap or repeat", s.ID)
			out[turn.ID] = turn
		}
	}
	return out
}

// listAll follows a list's cursors to the end, appending every item to
// items (a pointer to a slice).
func listAll[T any](t *testing.T, app *harness.App, token, path string, items *[]T) {
	sep := "?"
	if bytes.ContainsRune([]byte(path), '?') {
		sep = "&"
	}
	cursor := ""
	for {
		p := path + sep + "limit=100"
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		res := app.Do(t, harness.Request{Method: http.MethodGet, Path: p, Token: token})
		require.Equal(t, http.StatusOK, res.Status, "%s: %s", p, res.Body)
		var page struct {
			Items      []T     `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		res.JSON(t, &page)
		*items = append(*items, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return
		}
		cursor = *page.NextCursor
	}
}

// compareTurns counts the acknowledged turns missing from stored (or
// stored with another message or reply), and the messages stored more
// than once.
func compareTurns(t *testing.T, acked []ackedTurn, stored map[string]storedTurn) (lost, duplicates int) {
	for _, a := range acked {
		s, ok := stored[a.TurnID]
		if !ok || s.SessionID != a.Session || s.Message != a.Message || s.Response != a.Response {
			t.Errorf("acknowledged turn %s (%q) is not stored as answered: %+v", a.TurnID, a.Message, s)
			lost++
		}
	}
	seen := map[string]int{}
	for _, s := range stored {
		seen[s.Message]++
		if seen[s.Message] == 2 {
			t.Errorf("message %q stored twice", s.Message)
			duplicates++
		}
	}
	return lost, duplicates
}
