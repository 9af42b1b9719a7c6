package component

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"focal/test/fakellm"
	"focal/test/harness"
)

// plainAgent has no rules at all: every reply is the model's, as it came.
const plainAgent = "22222222-2222-4222-8222-222222222222"

// startOnFakeModel starts Focal with an OpenAI-compatible fake model and
// the plain agent beside the demo agent.
func startOnFakeModel(t *testing.T, env map[string]string, extra ...fx.Option) (*harness.App, *fakellm.Server) {
	t.Helper()
	fake := fakellm.New()
	fake.Start()
	t.Cleanup(fake.Close)
	settings := map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "fake-model",
		"FOCAL_LLM_BASE_URL": fake.URL() + "/v1", "FOCAL_LLM_API_KEY": "service-key",
		"FOCAL_LLM_MAX_RETRIES": "0",
	}
	for k, v := range env {
		settings[k] = v
	}
	app := harness.Start(t, settings, extra...)
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + plainAgent + "/bundle",
		Token: harness.Token(t, harness.DemoTenant, "admin"),
		Body:  map[string]any{"agent": map[string]any{"id": plainAgent, "name": "plain"}}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	return app, fake
}

// sdkClient is the official OpenAI SDK pointed at Focal, the tenant's token
// as its API key.
func sdkClient(app *harness.App, token string) openai.Client {
	return openai.NewClient(option.WithBaseURL(app.URL+"/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))
}

// focalOf reads the focal object Focal adds to a completion.
func focalOf(t *testing.T, raw string) (sessionID, turnID string) {
	t.Helper()
	var c struct {
		Focal struct {
			SessionID string `json:"session_id"`
			TurnID    string `json:"turn_id"`
		} `json:"focal"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &c), raw)
	return c.Focal.SessionID, c.Focal.TurnID
}

// An application written for OpenAI talks to a Focal agent through the
// official SDK: plain and streamed completions continue one conversation
// keyed by the user, the usage is the turn's, the model list names the
// agents, and errors arrive as the SDK's API error with Focal's code.
func TestOpenAISDKTalksToAnAgent(t *testing.T) {
	app, fake := startOnFakeModel(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	client := sdkClient(app, token)
	ctx := t.Context()

	fake.Enqueue(fakellm.Reply{Text: "Socks keep your feet warm."})
	got, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: plainAgent,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You are a pirate."), // ignored: the agent has its own prompt
			openai.UserMessage("An earlier question"),
			openai.AssistantMessage("An earlier answer"),
			openai.UserMessage("What are socks for?"),
		},
		User: openai.String("sdk-user"),
	})
	require.NoError(t, err)
	require.Len(t, got.Choices, 1)
	assert.Equal(t, "Socks keep your feet warm.", got.Choices[0].Message.Content)
	assert.Equal(t, "stop", got.Choices[0].FinishReason)
	assert.Equal(t, plainAgent, got.Model)
	assert.Positive(t, got.Usage.PromptTokens)
	assert.Positive(t, got.Usage.CompletionTokens)
	assert.Equal(t, got.Usage.PromptTokens+got.Usage.CompletionTokens, got.Usage.TotalTokens)
	sessionID, turnID := focalOf(t, got.RawJSON())
	assert.Equal(t, "chatcmpl-"+turnID, got.ID)

	// Only the newest user message reached the model; the pirate prompt
	// and the earlier exchange of the request did not.
	sent := fake.Requests()[len(fake.Requests())-1]
	assert.Contains(t, string(sent.RawBody), "What are socks for?")
	assert.NotContains(t, string(sent.RawBody), "pirate")
	assert.NotContains(t, string(sent.RawBody), "An earlier question")

	// The turn is recorded like any other, on the openai channel, with the
	// completion's usage.
	var turn struct {
		Usage struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
		SessionID string `json:"session_id"`
	}
	res := app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/turns/" + turnID, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &turn)
	assert.Equal(t, sessionID, turn.SessionID)
	assert.Equal(t, got.Usage.PromptTokens, turn.Usage.Prompt)
	assert.Equal(t, got.Usage.CompletionTokens, turn.Usage.Completion)

	// Streamed: the SDK's accumulator rebuilds the reply and the usage, and
	// the same user continues the same session.
	fake.Enqueue(fakellm.Reply{Deltas: []string{"Wool ", "socks ", "are ", "warmest."}})
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         plainAgent,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Which socks are warmest?")},
		User:          openai.String("sdk-user"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	var deltas []string
	for stream.Next() {
		chunk := stream.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			deltas = append(deltas, chunk.Choices[0].Delta.Content)
		}
	}
	require.NoError(t, stream.Err())
	require.NoError(t, stream.Close())
	assert.Equal(t, []string{"Wool ", "socks ", "are ", "warmest."}, deltas, "the model's deltas, as they came")
	require.Len(t, acc.Choices, 1)
	assert.Equal(t, "Wool socks are warmest.", acc.Choices[0].Message.Content)
	assert.Positive(t, acc.Usage.CompletionTokens)
	assert.Equal(t, acc.Usage.PromptTokens+acc.Usage.CompletionTokens, acc.Usage.TotalTokens)

	var session struct {
		Channel       string `json:"channel"`
		UserChannelID string `json:"user_channel_id"`
		TurnCount     int    `json:"turn_count"`
	}
	res = app.Do(t, harness.Request{Method: http.MethodGet, Path: "/v1/sessions/" + sessionID, Token: token})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res.JSON(t, &session)
	assert.Equal(t, "openai", session.Channel)
	assert.Equal(t, "sdk-user", session.UserChannelID)
	assert.Equal(t, 2, session.TurnCount, "both completions are turns of one session")

	// The model list names the tenant's enabled agents.
	models, err := client.Models.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	assert.ElementsMatch(t, []string{harness.DemoAgent, plainAgent}, ids)

	// An unknown agent is the SDK's API error: 404 with Focal's code, both
	// plain and streamed.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "agent:nobody",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello?")},
		User:     openai.String("sdk-user"),
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, "AGENT_NOT_FOUND", apiErr.Code)
	assert.Equal(t, "invalid_request_error", apiErr.Type)
	assert.Contains(t, apiErr.Message, "nobody")

	stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "9d3f6c1e-0000-4000-8000-000000000000",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello?")},
		User:     openai.String("sdk-user"),
	})
	assert.False(t, stream.Next())
	require.True(t, errors.As(stream.Err(), &apiErr), "%v", stream.Err())
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, "AGENT_NOT_FOUND", apiErr.Code)

	// A wrong key is the SDK's 401 with Focal's code.
	bad := sdkClient(app, "not-a-token")
	_, err = bad.Models.List(ctx)
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	assert.Equal(t, "UNAUTHENTICATED", apiErr.Code)
}

// "agent:<name>" names an agent by its name, among the tenant's enabled
// agents; a name two agents share is refused with a message naming both
// ids, and a missing user is refused naming the field.
func TestOpenAIModelNamesAnAgent(t *testing.T) {
	app, fake := startOnFakeModel(t, nil)
	token := harness.Token(t, harness.DemoTenant)
	client := sdkClient(app, token)
	ctx := t.Context()

	fake.Enqueue(fakellm.Reply{Text: "Hello from plain."})
	got, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "agent:plain",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
		User:     openai.String("by-name"),
	})
	require.NoError(t, err)
	assert.Equal(t, "Hello from plain.", got.Choices[0].Message.Content)
	assert.Equal(t, "agent:plain", got.Model)

	const twin = "33333333-3333-4333-8333-333333333333"
	res := app.Do(t, harness.Request{Method: http.MethodPut, Path: "/v1/agents/" + twin + "/bundle",
		Token: harness.Token(t, harness.DemoTenant, "admin"),
		Body:  map[string]any{"agent": map[string]any{"id": twin, "name": "plain"}}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)

	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "agent:plain",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
		User:     openai.String("by-name"),
	})
	var apiErr *openai.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "INVALID_REQUEST", apiErr.Code)
	assert.Equal(t, "model", apiErr.Param)
	assert.Contains(t, apiErr.Message, plainAgent)
	assert.Contains(t, apiErr.Message, twin)

	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    plainAgent,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hi")},
	})
	require.True(t, errors.As(err, &apiErr), "%v", err)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.Equal(t, "user", apiErr.Param)
	assert.True(t, strings.Contains(apiErr.Message, "X-Focal-User"), apiErr.Message)
}
