package llm

import (
	"context"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func TestParseChain(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []ChainLink
		err  string
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "offline", want: []ChainLink{{Provider: "offline"}}},
		{in: "openai:gpt-4o-mini@https://host/v1,anthropic:claude-3-5-haiku-latest,offline", want: []ChainLink{
			{Provider: "openai", Model: "gpt-4o-mini", BaseURL: "https://host/v1"},
			{Provider: "anthropic", Model: "claude-3-5-haiku-latest"},
			{Provider: "offline"},
		}},
		{in: " OpenAI : llama3.1:8b @http://localhost:11434/v1 ", want: []ChainLink{
			{Provider: "openai", Model: "llama3.1:8b", BaseURL: "http://localhost:11434/v1"},
		}},
		{in: "openai:org/model@v2@https://gw.example/v1", want: []ChainLink{
			{Provider: "openai", Model: "org/model@v2", BaseURL: "https://gw.example/v1"},
		}},
		{in: "openai:gpt,,offline", err: "fallback 2"},
		{in: "openai:gpt,", err: "trailing comma"},
		{in: "openai", err: "openai needs a model"},
		{in: "openai:", err: "openai needs a model"},
		{in: "gemini:pro", err: `unknown provider "gemini"`},
		{in: ":gpt", err: "missing provider"},
		{in: "offline:x", err: "offline takes no model"},
		{in: "offline,openai:gpt", err: "offline must be the last"},
		{in: "openai:gpt@host/v1", err: "must be a base URL starting with http"},
		{in: "openai:gpt@ftp://host", err: "must be a base URL starting with http"},
		{in: "openai:gpt@https://", err: "has no host"},
		{in: "openai:gpt@https://user:secret@host/v1", err: "must not carry credentials"},
		{in: "anthropic:c,anthropic:c", err: "appears twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseChain(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), "secret", "credentials never reach an error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			for _, l := range got {
				again, err := ParseChain(l.String())
				require.NoError(t, err)
				assert.Equal(t, []ChainLink{l}, again, "String round-trips")
			}
		})
	}
}

// defaults parses an environment the way bootstrap does.
func defaults(t *testing.T, environ map[string]string) Config {
	t.Helper()
	var c Config
	require.NoError(t, env.ParseWithOptions(&c, env.Options{Prefix: "FOCAL_", Environment: environ}))
	return c
}

func TestConfigDefaults(t *testing.T) {
	c := defaults(t, map[string]string{})
	require.NoError(t, c.Validate())
	assert.Equal(t, "offline", c.Provider)
	assert.Equal(t, 5*time.Second, c.ConnectTimeout)
	assert.Equal(t, 20*time.Second, c.FirstTokenTimeout)
	assert.Equal(t, 60*time.Second, c.RequestTimeout)
	assert.Equal(t, 2, c.MaxRetries)
	assert.Equal(t, 250*time.Millisecond, c.RetryBase)
	assert.Equal(t, 5*time.Second, c.RetryMax)
	assert.Equal(t, 5, c.BreakerFailures)
	assert.Equal(t, 30*time.Second, c.BreakerOpen)
	assert.Equal(t, "none", c.Embeddings.Provider)

	c = defaults(t, map[string]string{"FOCAL_LLM_EXTRA_HEADERS": "X-A:1,X-B:two:parts"})
	assert.Equal(t, map[string]string{"X-A": "1", "X-B": "two:parts"}, c.ExtraHeaders)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string
	}{
		{"openai", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "k"}, ""},
		{"local server needs no key", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_BASE_URL": "http://localhost:8000/v1"}, ""},
		{"unknown provider", map[string]string{"FOCAL_LLM_PROVIDER": "gemini"}, "FOCAL_LLM_PROVIDER"},
		{"no model", map[string]string{"FOCAL_LLM_PROVIDER": "anthropic", "FOCAL_LLM_API_KEY": "k"}, "FOCAL_LLM_MODEL is required"},
		{"no key", map[string]string{"FOCAL_LLM_PROVIDER": "anthropic", "FOCAL_LLM_MODEL": "m"}, "FOCAL_LLM_API_KEY is required"},
		{"provider key", map[string]string{"FOCAL_LLM_PROVIDER": "anthropic", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_ANTHROPIC_API_KEY": "k"}, ""},
		{"bad base URL", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_BASE_URL": "localhost:8000"}, "FOCAL_LLM_BASE_URL"},
		{"fallbacks on offline", map[string]string{"FOCAL_LLM_FALLBACKS": "offline"}, "needs a model in FOCAL_LLM_PROVIDER"},
		{"bad chain", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "k", "FOCAL_LLM_FALLBACKS": "openai"}, "FOCAL_LLM_FALLBACKS: fallback 1"},
		{"fallback on its own server needs no key", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "k", "FOCAL_LLM_FALLBACKS": "openai:llama@http://localhost:11434/v1"}, ""},
		{"fallback without key", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "k", "FOCAL_LLM_FALLBACKS": "anthropic:c"}, "FOCAL_LLM_ANTHROPIC_API_KEY"},
		{"fallback with key", map[string]string{"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "m", "FOCAL_LLM_API_KEY": "k", "FOCAL_LLM_FALLBACKS": "anthropic:c,openai:mini,offline", "FOCAL_LLM_ANTHROPIC_API_KEY": "a"}, ""},
		{"timeouts", map[string]string{"FOCAL_LLM_REQUEST_TIMEOUT": "1s"}, "FOCAL_LLM_REQUEST_TIMEOUT"},
		{"request timeout as long as the first token's", map[string]string{"FOCAL_LLM_REQUEST_TIMEOUT": "20s", "FOCAL_LLM_FIRST_TOKEN_TIMEOUT": "20s"}, ""},
		{"retry max as long as the base", map[string]string{"FOCAL_LLM_RETRY_BASE": "1s", "FOCAL_LLM_RETRY_MAX": "1s"}, ""},
		{"retry max shorter than the base", map[string]string{"FOCAL_LLM_RETRY_BASE": "2s", "FOCAL_LLM_RETRY_MAX": "1s"}, "FOCAL_LLM_RETRY_MAX"},
		{"retries", map[string]string{"FOCAL_LLM_MAX_RETRIES": "-1"}, "FOCAL_LLM_MAX_RETRIES"},
		{"breaker", map[string]string{"FOCAL_LLM_BREAKER_FAILURES": "0"}, "FOCAL_LLM_BREAKER_FAILURES"},
		{"embeddings model", map[string]string{"FOCAL_EMBEDDINGS_PROVIDER": "openai"}, "FOCAL_EMBEDDINGS_MODEL"},
		{"embeddings provider", map[string]string{"FOCAL_EMBEDDINGS_PROVIDER": "cohere"}, "FOCAL_EMBEDDINGS_PROVIDER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := defaults(t, tc.env).Validate()
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestKeysNeverTravelToAnotherProviderOrHost(t *testing.T) {
	c := Config{Provider: "openai", APIKey: "shared", BaseURL: "https://gw.example/v1", AnthropicAPIKey: "ant"}
	assert.Equal(t, "shared", c.keyFor("openai", "https://gw.example/v1", true))
	assert.Equal(t, "shared", c.keyFor("openai", "https://gw.example/v1", false), "same server, another model")
	assert.Empty(t, c.keyFor("openai", "http://other/v1", false))
	assert.Empty(t, c.keyFor("openai", "", false), "not to OpenAI's own API either")
	assert.Equal(t, "ant", c.keyFor("anthropic", "", false))
	c.OpenAIAPIKey = "oa"
	assert.Equal(t, "oa", c.keyFor("openai", "http://other/v1", false))
	assert.Equal(t, "shared", c.keyFor("openai", "https://gw.example/v1", true), "the primary keeps its own key")

	base, key := c.embeddingsTarget()
	assert.Equal(t, "https://gw.example/v1", base, "embeddings share the chat server by default")
	assert.Equal(t, "oa", key)

	// An Anthropic primary's server is no embeddings server: the OpenAI
	// key goes to OpenAI's own API, not to the Anthropic gateway.
	c = Config{Provider: "anthropic", BaseURL: "https://anthropic-gw.example", APIKey: "ant", OpenAIAPIKey: "oa"}
	base, key = c.embeddingsTarget()
	assert.Empty(t, base, "OpenAI's own API")
	assert.Equal(t, "oa", key)
}

func TestBuild(t *testing.T) {
	models, err := Build(defaults(t, map[string]string{}), Deps{})
	require.NoError(t, err)
	assert.Equal(t, Offline{}, models.Chat)
	assert.Nil(t, models.Embedder)
	assert.NoError(t, models.Chat.Ready(context.Background()), "the offline model is always ready")

	_, err = Build(defaults(t, map[string]string{"FOCAL_LLM_PROVIDER": "gemini"}), Deps{})
	assert.Error(t, err)

	primary, purl := fake(t)
	second, surl := fake(t)
	primary.SetDefaults(fakellm.Reply{Status: 503})
	cfg := defaults(t, map[string]string{
		"FOCAL_LLM_PROVIDER":          "openai",
		"FOCAL_LLM_MODEL":             "gpt-test",
		"FOCAL_LLM_BASE_URL":          purl + "/v1",
		"FOCAL_LLM_API_KEY":           "primary-key",
		"FOCAL_LLM_EXTRA_HEADERS":     "X-Gateway:g",
		"FOCAL_LLM_FALLBACKS":         "anthropic:claude-test@" + surl + ",offline",
		"FOCAL_LLM_ANTHROPIC_API_KEY": "ant-key",
		"FOCAL_LLM_RETRY_BASE":        "5ms",
		"FOCAL_LLM_RETRY_MAX":         "10ms",
		"FOCAL_EMBEDDINGS_PROVIDER":   "openai",
		"FOCAL_EMBEDDINGS_MODEL":      "emb",
	})
	models, err = Build(cfg, Deps{})
	require.NoError(t, err)
	chat, emb := models.Chat, models.Embedder
	_, res, err := collect(context.Background(), chat, chatRequest("x"))
	require.NoError(t, err)
	assert.Equal(t, "anthropic", res.Provider)
	assert.Equal(t, 3, primary.Count(), "one try and LLM_MAX_RETRIES=2 retries")
	p, _ := primary.Request(0)
	assert.Equal(t, "Bearer primary-key", p.Header.Get("Authorization"))
	assert.Equal(t, "g", p.Header.Get("X-Gateway"))
	s, _ := second.Last()
	assert.Contains(t, s.Header.Get("Authorization")+s.Header.Get("X-Api-Key"), "ant-key")
	assert.NotContains(t, s.Header.Get("Authorization"), "primary-key")
	assert.Empty(t, s.Header.Get("X-Gateway"), "the primary's headers stay on its server")

	require.NotNil(t, emb)
	primary.SetDefaults(fakellm.Reply{})
	vecs, err := emb.Embed(context.Background(), []string{"a b"})
	require.NoError(t, err)
	assert.Len(t, vecs, 1)
	e, _ := primary.Last()
	assert.Equal(t, fakellm.APIOpenAIEmbeddings, e.API, "embeddings go to the chat server by default")
}
