package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	httpapi "focal/adapters/http"
	"focal/application"
	"focal/application/convtest"
	"focal/domain"
)

// deployedAgent plays conversation turns against a running Focal over its
// public API, as any client reaches it: a run then tests the agent as it
// is deployed, with that deployment's model, store and tools. It is the
// runner's Chatter and TurnReader; the tenant is the token's, so the
// tenant ids the runner passes are not sent.
type deployedAgent struct{ c *apiClient }

var (
	_ convtest.Chatter    = deployedAgent{}
	_ convtest.TurnReader = deployedAgent{}
)

// Chat implements convtest.Chatter with POST /v1/chat. The runner gives
// each conversation a user_channel_id of its own, so the service opens a
// session for it and continues it turn after turn. An API error comes back
// as *apiError, which reads "CODE (HTTP status): message".
func (d deployedAgent) Chat(ctx context.Context, cmd application.ChatCommand) (*application.ChatResult, error) {
	body, err := json.Marshal(httpapi.ChatRequest{AgentID: cmd.AgentID, Channel: cmd.Channel,
		UserChannelID: cmd.UserChannelID, Message: cmd.Message})
	if err != nil {
		return nil, err
	}
	// One key per turn, the same on each of its retries: a retry after an
	// answer that was lost (a 503 from a proxy once the turn was recorded)
	// is answered with that turn, and never records the message twice.
	key := map[string]string{"Idempotency-Key": "convtest-" + uuid.NewString()}
	res, err := d.c.doRetrying(ctx, http.MethodPost, "/v1/chat", body, key)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out application.ChatResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("POST /v1/chat: the answer is not a chat result: %w", err)
	}
	return &out, nil
}

// Turn implements convtest.TurnReader with GET /v1/turns/{turn_id}. The
// API's turn is domain.Turn's JSON (adapters/http's turnView); the report
// reads only its explanation, so only that and the id are kept.
func (d deployedAgent) Turn(ctx context.Context, _, turnID string) (*domain.Turn, error) {
	res, err := d.c.doRetrying(ctx, http.MethodGet, "/v1/turns/"+url.PathEscape(turnID), nil, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var rec struct {
		ID          string             `json:"id"`
		Explanation domain.Explanation `json:"explanation"`
	}
	if err := json.NewDecoder(res.Body).Decode(&rec); err != nil {
		return nil, fmt.Errorf("GET /v1/turns/%s: the answer is not a turn: %w", turnID, err)
	}
	return &domain.Turn{ID: rec.ID, Explanation: rec.Explanation}, nil
}

// deployedStage plays against the deployment flags name, once it is sure
// that nothing selected needs a stand-in, and before anything is sent.
func deployedStage(suites []*convtest.Suite, sel convtest.Selection, flags testFlags) (testStage, error) {
	if err := refuseStandIns(suites, sel); err != nil {
		return testStage{}, err
	}
	c, err := flags.api.client()
	if err != nil {
		return testStage{}, err
	}
	agent := deployedAgent{c: c}
	return testStage{
		runner: convtest.Runner{Chat: agent, Turns: agent, AgentID: strings.ToLower(flags.agent)},
		stop:   c.http.CloseIdleConnections,
	}, nil
}

// refuseStandIns fails a run against a deployment when a conversation it
// would play has a tool stand-in in force: nothing can serve a stand-in to
// a remote server, and playing the conversation against the deployment's
// real tool would judge that tool by answers written for the stand-in.
// The error names every such conversation, by file.
func refuseStandIns(suites []*convtest.Suite, sel convtest.Selection) error {
	var lines []string
	for _, s := range suites {
		for _, c := range s.WithStandIns(sel) {
			ids := slices.Sorted(maps.Keys(s.InForce(c)))
			lines = append(lines, fmt.Sprintf("  %s: %q (stands in for %s)", s.File, c.Name, strings.Join(ids, ", ")))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("--url: tool stand-ins cannot be served to a deployment, and %d of the conversations to play have one "+
		"(a file's tools: are in force for all its conversations); leave them out with --run or --skip, or play them in process "+
		"against the bundle:\n%s", len(lines), strings.Join(lines, "\n"))
}
