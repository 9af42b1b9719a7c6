package llm

import (
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"focal/adapters/resilience"
	"focal/ports"
)

// Option adjusts Build.
type Option func(*buildOptions)

type buildOptions struct {
	observers  resilience.Observers
	httpClient *http.Client
}

// WithObserver adds an observer of breaker changes and retries (metrics);
// Build always logs them too.
func WithObserver(o resilience.Observer) Option {
	return func(b *buildOptions) { b.observers = append(b.observers, o) }
}

// WithHTTPClient replaces the HTTP client built from ConnectTimeout.
func WithHTTPClient(c *http.Client) Option {
	return func(b *buildOptions) { b.httpClient = c }
}

// Build validates cfg and assembles the chat model and the embedder (nil
// when FOCAL_EMBEDDINGS_PROVIDER=none). With the offline provider and no
// fallbacks the chat model is Offline{}; otherwise it is a Resilient chain
// of the primary and the fallbacks, sharing one Guard (a breaker per
// provider and model) with the embedder.
func Build(cfg Config, log *zap.Logger, opts ...Option) (ports.ChatModel, ports.Embedder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	b := buildOptions{}
	for _, o := range opts {
		o(&b)
	}
	client := b.httpClient
	if client == nil {
		client = newHTTPClient(cfg.ConnectTimeout, cfg.H2C)
	}
	obs := append(resilience.Observers{resilience.LogObserver{Log: log}}, b.observers...)
	guard := resilience.NewGuard(cfg.guard(), obs)

	chain, _ := ParseChain(cfg.Fallbacks) // Validate parsed it already
	if cfg.Provider != ProviderOffline {
		chain = append([]ChainLink{{Provider: cfg.Provider, Model: cfg.Model, BaseURL: cfg.BaseURL}}, chain...)
	}
	var chat ports.ChatModel = Offline{}
	if len(chain) > 0 {
		links := make([]Link, 0, len(chain))
		for i, cl := range chain {
			l, err := cfg.link(cl, i == 0, client)
			if err != nil {
				return nil, nil, err
			}
			links = append(links, l)
		}
		r, err := NewResilient(guard, log.Named("llm"), links...)
		if err != nil {
			return nil, nil, err
		}
		chat = r
	}

	if cfg.Embeddings.Provider != ProviderOpenAI {
		return chat, nil, nil
	}
	base, key := cfg.embeddingsTarget()
	var headers map[string]string
	if cfg.Provider == ProviderOpenAI && base == cfg.BaseURL {
		headers = cfg.ExtraHeaders
	}
	emb, err := NewOpenAIEmbeddings(OpenAIConfig{
		BaseURL: base, APIKey: key, Model: cfg.Embeddings.Model,
		ExtraHeaders: headers, HTTPClient: client,
	})
	if err != nil {
		return nil, nil, err
	}
	return chat, NewResilientEmbedder(guard, ProviderOpenAI, cfg.Embeddings.Model, emb), nil
}

// link builds the ChatModel of one chain link.
func (c Config) link(cl ChainLink, primary bool, client *http.Client) (Link, error) {
	l := Link{Provider: cl.Provider, Model: cl.Model, BaseURL: cl.BaseURL}
	key := c.keyFor(cl.Provider, cl.BaseURL, primary)
	// Organization and extra headers belong to the primary's server (often
	// a gateway's credentials) and are not sent to other hosts.
	sameServer := cl.Provider == c.Provider && cl.BaseURL == c.BaseURL
	var org string
	var headers map[string]string
	if sameServer {
		org, headers = c.Organization, c.ExtraHeaders
	}
	var err error
	switch cl.Provider {
	case ProviderOffline:
		l.Chat = Offline{}
	case ProviderOpenAI:
		l.Chat, err = NewOpenAI(OpenAIConfig{
			BaseURL: cl.BaseURL, APIKey: key, Model: cl.Model, Organization: org,
			ExtraHeaders: headers, HTTPClient: client,
		})
	case ProviderAnthropic:
		l.Chat, err = NewAnthropic(AnthropicConfig{
			BaseURL: cl.BaseURL, APIKey: key, Model: cl.Model,
			ExtraHeaders: headers, HTTPClient: client,
		})
	default:
		err = fmt.Errorf("unknown provider %q", cl.Provider)
	}
	if err != nil {
		return Link{}, fmt.Errorf("model %s: %w", cl, err)
	}
	return l, nil
}
