package llm

import (
	"errors"
	"fmt"
	"time"

	"focal/adapters/resilience"
	"focal/domain"
)

// Config selects the chat model, its fallback chain, the embedder and the
// resilience policy. Every field is read from FOCAL_<env name>.
type Config struct {
	// Provider is the primary model's provider: offline, openai or anthropic.
	Provider string `env:"LLM_PROVIDER" envDefault:"offline" yaml:"provider"`
	// Model is the primary model (required unless offline).
	Model string `env:"LLM_MODEL" yaml:"model"`
	// BaseURL points the primary at an OpenAI-compatible server or a
	// gateway; empty is the provider's own API.
	BaseURL string `env:"LLM_BASE_URL" yaml:"base_url"`
	// APIKey is the primary's key.
	APIKey string `env:"LLM_API_KEY" yaml:"api_key"`
	// Organization is sent as OpenAI-Organization to the primary's server.
	Organization string `env:"LLM_ORGANIZATION" yaml:"organization"`
	// ExtraHeaders go on every request to the primary's server, fallbacks
	// on it and an embedder sharing it ("Name:value,Name2:value2"); other
	// hosts never see them.
	ExtraHeaders map[string]string `env:"LLM_EXTRA_HEADERS" yaml:"extra_headers"`
	// Fallbacks is the chain tried after the primary, in order, in the
	// syntax of ParseChain: "openai:gpt-4o-mini@https://host/v1,anthropic:claude-3-5-haiku-latest,offline".
	Fallbacks string `env:"LLM_FALLBACKS" yaml:"fallbacks"`
	// OpenAIAPIKey and AnthropicAPIKey are the keys of fallback links of
	// that provider; a fallback on the primary's provider and base URL
	// falls back to APIKey, which is never sent anywhere else.
	OpenAIAPIKey    string `env:"LLM_OPENAI_API_KEY" yaml:"openai_api_key"`
	AnthropicAPIKey string `env:"LLM_ANTHROPIC_API_KEY" yaml:"anthropic_api_key"`

	// H2C speaks HTTP/2 to every model server: without TLS (prior
	// knowledge) to http:// base URLs, so the server must accept h2c (a
	// local gateway or model server that does); over TLS as negotiated
	// otherwise. Many waiting streams then share a few connections.
	H2C bool `env:"LLM_H2C" yaml:"h2c"`
	// ConnectTimeout bounds dialing and the TLS handshake.
	ConnectTimeout time.Duration `env:"LLM_CONNECT_TIMEOUT" envDefault:"5s" yaml:"connect_timeout"`
	// FirstTokenTimeout cancels (and retries) an attempt that streamed no
	// text in this time.
	FirstTokenTimeout time.Duration `env:"LLM_FIRST_TOKEN_TIMEOUT" envDefault:"20s" yaml:"first_token_timeout"`
	// RequestTimeout bounds one attempt, streaming included.
	RequestTimeout time.Duration `env:"LLM_REQUEST_TIMEOUT" envDefault:"60s" yaml:"request_timeout"`
	// MaxRetries is how often a retryable failure before the first token is
	// tried again on the same model.
	MaxRetries int `env:"LLM_MAX_RETRIES" envDefault:"2" yaml:"max_retries"`
	// RetryBase is the first backoff, doubled per retry with jitter, capped
	// by RetryMax; a longer Retry-After from the provider wins.
	RetryBase time.Duration `env:"LLM_RETRY_BASE" envDefault:"250ms" yaml:"retry_base"`
	RetryMax  time.Duration `env:"LLM_RETRY_MAX" envDefault:"5s" yaml:"retry_max"`
	// BreakerFailures consecutive failures open a model's breaker.
	BreakerFailures int `env:"LLM_BREAKER_FAILURES" envDefault:"5" yaml:"breaker_failures"`
	// BreakerOpen is how long an open breaker refuses calls.
	BreakerOpen time.Duration `env:"LLM_BREAKER_OPEN" envDefault:"30s" yaml:"breaker_open"`

	Embeddings EmbeddingsConfig `yaml:"embeddings"`
}

// EmbeddingsConfig selects the embedder used for semantic rule matching.
type EmbeddingsConfig struct {
	// Provider is none or openai (any OpenAI-compatible /embeddings).
	Provider string `env:"EMBEDDINGS_PROVIDER" envDefault:"none" yaml:"provider"`
	// Model is the embedding model (required for openai).
	Model string `env:"EMBEDDINGS_MODEL" yaml:"model"`
	// BaseURL defaults to FOCAL_LLM_BASE_URL when the chat provider is
	// openai (one server for both), else to OpenAI's API.
	BaseURL string `env:"EMBEDDINGS_BASE_URL" yaml:"base_url"`
	// APIKey defaults to FOCAL_LLM_OPENAI_API_KEY, then to FOCAL_LLM_API_KEY
	// when the embedder and the chat model share an openai server.
	APIKey string `env:"EMBEDDINGS_API_KEY" yaml:"api_key"`
}

// Validate reports every problem at once, naming the variables.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Provider {
	case ProviderOffline:
		if c.Fallbacks != "" {
			add("FOCAL_LLM_FALLBACKS needs a model in FOCAL_LLM_PROVIDER (openai or anthropic), not offline")
		}
	case ProviderOpenAI, ProviderAnthropic:
		if c.Model == "" {
			add("FOCAL_LLM_MODEL is required when FOCAL_LLM_PROVIDER=%s", c.Provider)
		}
		if c.BaseURL != "" {
			if err := checkBaseURL(c.BaseURL); err != nil {
				add("FOCAL_LLM_BASE_URL: %v", err)
			}
		} else if c.keyFor(c.Provider, c.BaseURL, true) == "" {
			add("FOCAL_LLM_API_KEY is required for %s's own API (set FOCAL_LLM_BASE_URL for a server that needs none)", c.Provider)
		}
	default:
		add("FOCAL_LLM_PROVIDER=%q is not supported: use offline, openai or anthropic", c.Provider)
	}
	if chain, err := ParseChain(c.Fallbacks); err != nil {
		add("FOCAL_LLM_FALLBACKS: %v", err)
	} else {
		for i, l := range chain {
			if l.Provider != ProviderOffline && l.BaseURL == "" && c.keyFor(l.Provider, l.BaseURL, false) == "" {
				add("FOCAL_LLM_FALLBACKS: fallback %d (%s) has no API key: set FOCAL_LLM_%s_API_KEY", i+1, l, upper(l.Provider))
			}
		}
	}
	switch {
	case c.ConnectTimeout <= 0:
		add("FOCAL_LLM_CONNECT_TIMEOUT must be positive")
	case c.FirstTokenTimeout <= 0:
		add("FOCAL_LLM_FIRST_TOKEN_TIMEOUT must be positive")
	case c.RequestTimeout < c.FirstTokenTimeout:
		add("FOCAL_LLM_REQUEST_TIMEOUT (%s) must be at least FOCAL_LLM_FIRST_TOKEN_TIMEOUT (%s)", c.RequestTimeout, c.FirstTokenTimeout)
	}
	if c.MaxRetries < 0 || c.MaxRetries > 10 {
		add("FOCAL_LLM_MAX_RETRIES must be 0..10")
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		add("FOCAL_LLM_RETRY_BASE must be positive and FOCAL_LLM_RETRY_MAX at least as long")
	}
	if c.BreakerFailures < 1 {
		add("FOCAL_LLM_BREAKER_FAILURES must be at least 1")
	}
	if c.BreakerOpen <= 0 {
		add("FOCAL_LLM_BREAKER_OPEN must be positive")
	}
	errs = append(errs, c.Embeddings.validate())
	return errors.Join(errs...)
}

func (e EmbeddingsConfig) validate() error {
	switch e.Provider {
	case "none":
		return nil
	case ProviderOpenAI:
		if e.Model == "" {
			return errors.New("FOCAL_EMBEDDINGS_MODEL is required when FOCAL_EMBEDDINGS_PROVIDER=openai")
		}
		if e.BaseURL != "" {
			if err := checkBaseURL(e.BaseURL); err != nil {
				return fmt.Errorf("FOCAL_EMBEDDINGS_BASE_URL: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("FOCAL_EMBEDDINGS_PROVIDER=%q is not supported: use none or openai", e.Provider)
}

// keyFor is the API key of a link of provider at baseURL. The primary uses
// FOCAL_LLM_API_KEY, else the provider's own key. A fallback uses the
// provider's own key, else FOCAL_LLM_API_KEY only when it targets the
// primary's provider and server: the shared key never travels to another
// provider or host.
func (c Config) keyFor(provider, baseURL string, primary bool) string {
	own := c.OpenAIAPIKey
	if provider == ProviderAnthropic {
		own = c.AnthropicAPIKey
	}
	switch {
	case primary && c.APIKey != "":
		return c.APIKey
	case own != "":
		return own
	case provider == c.Provider && baseURL == c.BaseURL:
		return c.APIKey
	}
	return ""
}

// embeddingsTarget resolves the embedder's base URL and key.
func (c Config) embeddingsTarget() (baseURL, key string) {
	baseURL, key = c.Embeddings.BaseURL, c.Embeddings.APIKey
	if baseURL == "" && c.Provider == ProviderOpenAI {
		baseURL = c.BaseURL
	}
	if key == "" {
		key = c.keyFor(ProviderOpenAI, baseURL, false)
	}
	return baseURL, key
}

// guard is the resilience policy for models and embedders.
func (c Config) guard() resilience.Config {
	return resilience.Config{
		FirstTokenTimeout: c.FirstTokenTimeout,
		AttemptTimeout:    c.RequestTimeout,
		MaxRetries:        c.MaxRetries,
		RetryBase:         c.RetryBase,
		RetryMax:          c.RetryMax,
		BreakerFailures:   uint32(c.BreakerFailures),
		BreakerOpen:       c.BreakerOpen,
		UnavailableCode:   domain.CodeLLMUnavailable,
	}
}

func upper(provider string) string {
	if provider == ProviderAnthropic {
		return "ANTHROPIC"
	}
	return "OPENAI"
}
