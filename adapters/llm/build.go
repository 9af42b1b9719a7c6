package llm

import (
	"fmt"
	"net/http"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"focal/adapters/resilience"
	"focal/ports"
)

// Deps are what Build needs besides the configuration; each may be left
// zero.
type Deps struct {
	// Log hears of fallbacks from one model to the next.
	Log *zap.Logger
	// Breakers hears of breaker changes and retries (logs, metrics).
	Breakers resilience.Observer
	// Clock runs the guard: its first-token watchdog, attempt timeout
	// (RequestTimeout), retry waits and breaker intervals; nil is the
	// machine's clock.
	Clock clockwork.Clock
	// HTTPClient replaces the client built from ConnectTimeout.
	HTTPClient *http.Client
	// Tenants, when set, routes each call made for a tenant to the
	// tenant's own keys (see TenantModels).
	Tenants *TenantKeys
}

// Chat is a chat model that can tell whether it may be called now.
type Chat interface {
	ports.ChatModel
	ports.ReadinessChecker
}

// Models is what Build assembles.
type Models struct {
	Chat Chat
	// Embedder is nil when FOCAL_EMBEDDINGS_PROVIDER=none.
	Embedder ports.Embedder
}

// Build validates cfg and assembles the chat model and the embedder. With
// the offline provider and no fallbacks the chat model is Offline{};
// otherwise it is a Resilient chain of the primary and the fallbacks,
// sharing one Guard (a breaker per provider and model) with the embedder.
func Build(cfg Config, deps Deps) (Models, error) {
	if err := cfg.Validate(); err != nil {
		return Models{}, err
	}
	log := deps.Log
	if log == nil {
		log = zap.NewNop()
	}
	client := deps.HTTPClient
	if client == nil {
		client = newHTTPClient(cfg.ConnectTimeout, cfg.H2C)
	}
	guard := resilience.NewGuard(cfg.guard(), deps.Breakers, deps.Clock)
	chat, err := cfg.chain(guard, log, client)
	if err != nil {
		return Models{}, err
	}
	if _, calls := chat.(*Resilient); calls && deps.Tenants != nil {
		if chat, err = newTenantModels(cfg, chat, client, guard, log, *deps.Tenants, deps.Clock); err != nil {
			return Models{}, err
		}
	}
	if cfg.Embeddings.Provider != ProviderOpenAI {
		return Models{Chat: chat}, nil
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
		return Models{}, err
	}
	return Models{Chat: chat, Embedder: NewResilientEmbedder(guard, ProviderOpenAI, cfg.Embeddings.Model, emb)}, nil
}

// chain builds the primary model and its fallbacks behind guard, or
// Offline{} when there is no model to call.
func (c Config) chain(guard *resilience.Guard, log *zap.Logger, client *http.Client) (Chat, error) {
	chain := c.chainLinks()
	if len(chain) == 0 {
		return Offline{}, nil
	}
	links := make([]Link, 0, len(chain))
	for i, cl := range chain {
		l, err := c.link(cl, i == 0, client)
		if err != nil {
			return nil, err
		}
		links = append(links, l)
	}
	r, err := NewResilient(guard, log, links...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// chainLinks are the primary model and its fallbacks, in order.
func (c Config) chainLinks() []ChainLink {
	chain, _ := ParseChain(c.Fallbacks) // Validate parsed it already
	if c.Provider != ProviderOffline {
		chain = append([]ChainLink{{Provider: c.Provider, Model: c.Model, BaseURL: c.BaseURL}}, chain...)
	}
	return chain
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
