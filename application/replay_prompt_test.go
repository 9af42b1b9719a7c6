package application_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// promptedModel answers every prompt with the last message it holds, and
// keeps each prompt with the tenant it was asked for.
type promptedModel struct {
	mu      sync.Mutex
	prompts []string
}

func (m *promptedModel) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant %q", ports.TenantOf(ctx))
	for _, msg := range req.Messages[1:] { // the system prompt is the policy's
		fmt.Fprintf(&b, "\n%s: %s", msg.Role, msg.Content)
	}
	m.mu.Lock()
	m.prompts = append(m.prompts, b.String())
	m.mu.Unlock()
	text := "You said: " + req.Messages[len(req.Messages)-1].Content
	return ports.ChatResult{Text: text}, onDelta(text)
}

// taken returns the prompts asked since the last call.
func (m *promptedModel) taken() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.prompts
	m.prompts = nil
	return out
}

// promptedConversation is a conversation run live on a promptedModel,
// with the engines a replay of it uses, built as bootstrap builds them.
type promptedConversation struct {
	model   *promptedModel
	store   *memory.Store
	agent   string
	session string
	chat    *application.ProcessMessage
	engines application.ReplayEngines
	replay  *application.Replay
}

// converseWith runs one message with another agent of the tenant, which
// answers with a template, and returns its session.
func (c *promptedConversation) converseWith(t *testing.T, agent, message string) string {
	t.Helper()
	require.NoError(t, c.store.SavePolicy(context.Background(), tenant, &domain.Policy{
		Agent:     domain.Agent{ID: agent, Name: "b", Enabled: true, Version: 1},
		Templates: []domain.Template{{ID: "f", Mode: domain.ModeFallback, Text: "Hello."}}}))
	res, err := c.chat.Chat(context.Background(), application.ChatCommand{TenantID: tenant, AgentID: agent, Channel: "web",
		UserChannelID: "u", Message: message})
	require.NoError(t, err)
	return res.SessionID
}

// converseOnModel runs messages as one user's conversation with an agent
// that keeps history turns in its prompts, on a store that keeps kept
// turns a session (0: all).
func converseOnModel(t *testing.T, kept, history int, messages []string) *promptedConversation {
	t.Helper()
	ctx, clk := context.Background(), clock.System{}
	var opts []memory.Option
	if kept > 0 {
		opts = append(opts, memory.WithRetention(memory.Retention{MaxTurns: kept}))
	}
	c := &promptedConversation{model: &promptedModel{}, store: memory.New(clk, opts...), agent: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}
	require.NoError(t, c.store.SavePolicy(ctx, tenant, &domain.Policy{Agent: domain.Agent{ID: c.agent, Name: "a", Enabled: true,
		Version: 1, Settings: domain.AgentSettings{HistoryTurns: &history}}}))
	cache, err := application.NewPolicyCache(c.store, clk, time.Second)
	require.NoError(t, err)
	live, err := alignment.New(alignment.Deps{Model: c.model, History: c.store, Clock: clk})
	require.NoError(t, err)
	c.chat, err = application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, c.store, c.store, c.store, application.ScopeToTenant(live), clk)
	require.NoError(t, err)
	for _, msg := range messages {
		res, err := c.chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: c.agent, Channel: "web", UserChannelID: "u", Message: msg})
		require.NoError(t, err)
		c.session = res.SessionID
	}
	c.engines = func(history ports.TurnStore, tools ports.ToolInvoker, configured bool) (ports.Engine, error) {
		model := ports.ChatModel(c.model)
		if !configured {
			model = llm.Offline{}
		}
		e, err := alignment.New(alignment.Deps{Model: model, History: history, Clock: clk, Tools: tools})
		return application.ScopeToTenant(e), err
	}
	c.replay, err = application.NewReplay(c.store, c.store, c.store, c.store, c.engines)
	require.NoError(t, err)
	return c
}

// A replay with the configured model asks it what the live turns asked
// it, when nothing changed: each replayed turn's prompt holds the newest
// earlier turns (history_turns of them) as the replay produced them, and
// is asked for the session's tenant, whose key it is called with. Also
// when retention dropped the oldest turns, and the replay starts after
// the oldest kept one: that turn is in the next one's history (a prompt
// that reached further back cannot be asked again: what it held is gone).
func TestReplayAsksTheModelWhatTheLiveTurnsAsked(t *testing.T) {
	messages := []string{"Hello", "Tell me about socks", "And shoes?", "Which is cheaper?", "Thanks"}
	for _, c := range []struct {
		name     string
		kept     int // turns a session keeps; 0 keeps all
		history  int // the agent's history_turns
		replayed int // the live turns whose prompts the replay asks again
	}{
		{"every turn kept", 0, 2, 5},
		{"the oldest two dropped", 3, 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			conv := converseOnModel(t, c.kept, c.history, messages)
			asked := conv.model.taken()
			require.Len(t, asked, len(messages), "one prompt a turn")
			for _, prompt := range asked {
				require.True(t, strings.HasPrefix(prompt, fmt.Sprintf("tenant %q\n", tenant)), "asked for the session's tenant: %s", prompt)
			}
			r, err := conv.replay.Run(context.Background(), application.ReplayCommand{TenantID: tenant, AgentID: conv.agent, Version: 1,
				SessionIDs: []string{conv.session}, Model: application.ReplayModelConfigured})
			require.NoError(t, err)
			assert.Equal(t, asked[len(asked)-c.replayed:], conv.model.taken(), "the replay's prompts are the live turns'")
			assert.Zero(t, r.Summary.TurnsChanged)
			assert.Equal(t, c.replayed, r.Summary.Turns)
		})
	}
}
