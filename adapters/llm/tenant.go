package llm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
)

// TenantKeys makes Build route each turn to its tenant's own keys.
type TenantKeys struct {
	// Credentials returns a tenant's keys in clear (none: the service's).
	Credentials func(ctx context.Context, tenantID string) ([]ports.ModelCredential, error)
	// Require refuses the service's keys to tenants: a link of a provider
	// the tenant has no key for is left out (LLM_UNAVAILABLE when none is
	// left).
	Require bool
	// Refresh is how stale a tenant's cached keys may be.
	Refresh time.Duration
}

// tenantCacheSize bounds the tenants whose chains are kept.
const tenantCacheSize = 10_000

// TenantModels is a ChatModel that calls, for each tenant, the service's
// chain of models with the tenant's credentials: a link of a provider the
// tenant stored a key for uses that key (and the tenant's base URL, else
// the provider's own API; never the service's server or headers), limited
// to the key's allowed models; other links use the service's keys, or are
// left out when keys are required. Calls without a tenant use the service
// chain. A tenant's chain is built once per (tenant, requested model) and
// rebuilt when its keys change; links on a tenant's key have breakers of
// their own, so one tenant's exhausted quota opens no breaker of another.
type TenantModels struct {
	service Chat
	cfg     Config
	chain   []ChainLink
	client  *http.Client
	guard   *resilience.Guard
	log     *zap.Logger
	keys    TenantKeys
	clock   clockwork.Clock
	cache   *lru.Cache[string, *tenantChains]
}

var _ Chat = (*TenantModels)(nil)

// tenantChains are one tenant's credentials and the chains built on them.
type tenantChains struct {
	mu     sync.Mutex
	creds  []ports.ModelCredential
	readAt time.Time
	chains map[string]ports.ChatModel // by requested model
}

func newTenantModels(cfg Config, service Chat, client *http.Client, guard *resilience.Guard,
	log *zap.Logger, keys TenantKeys, clock clockwork.Clock) (*TenantModels, error) {
	if keys.Credentials == nil {
		return nil, errors.New("llm: tenant keys need a credentials source")
	}
	cache, err := lru.New[string, *tenantChains](tenantCacheSize)
	if err != nil {
		return nil, err
	}
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	return &TenantModels{service: service, cfg: cfg, chain: cfg.chainLinks(), client: client, guard: guard, log: log, keys: keys,
		clock: clock, cache: cache}, nil
}

// Ready reports whether the service's chain can be called (see
// Resilient.Ready); tenants' keys are theirs to keep working.
func (m *TenantModels) Ready(ctx context.Context) error { return m.service.Ready(ctx) }

// StreamChat implements ports.ChatModel.
func (m *TenantModels) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	tenant := ports.TenantOf(ctx)
	if tenant == "" {
		return m.service.StreamChat(ctx, req, onDelta)
	}
	creds, tc, err := m.credentials(ctx, tenant)
	if err != nil {
		return ports.ChatResult{}, domain.WrapError(domain.CodeLLMUnavailable, err, "the tenant's model keys cannot be read")
	}
	if len(creds) == 0 && !m.keys.Require {
		return m.service.StreamChat(ctx, req, onDelta)
	}
	chat, err := m.chainFor(tenant, tc, req.Model)
	if err != nil {
		return ports.ChatResult{}, err
	}
	req.Model = "" // the chain's links carry the model
	return chat.StreamChat(ctx, req, onDelta)
}

// credentials returns the tenant's keys, read again once Refresh passed;
// changed keys drop the chains built on the old ones.
func (m *TenantModels) credentials(ctx context.Context, tenant string) ([]ports.ModelCredential, *tenantChains, error) {
	tc, ok := m.cache.Get(tenant)
	if !ok {
		tc = &tenantChains{chains: map[string]ports.ChatModel{}}
		if earlier, found, _ := m.cache.PeekOrAdd(tenant, tc); found {
			tc = earlier // another call added it first
		}
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	now := m.clock.Now()
	if !tc.readAt.IsZero() && now.Sub(tc.readAt) < m.keys.Refresh {
		return tc.creds, tc, nil
	}
	creds, err := m.keys.Credentials(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	if !sameRevisions(creds, tc.creds) {
		tc.chains = map[string]ports.ChatModel{}
	}
	tc.creds, tc.readAt = creds, now
	return creds, tc, nil
}

func sameRevisions(a, b []ports.ModelCredential) bool {
	return slices.EqualFunc(a, b, func(x, y ports.ModelCredential) bool {
		return x.Provider == y.Provider && x.Revision == y.Revision
	})
}

// chainFor returns the tenant's chain for the requested model.
func (m *TenantModels) chainFor(tenant string, tc *tenantChains, model string) (ports.ChatModel, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c, ok := tc.chains[model]; ok {
		return c, nil
	}
	c, err := m.build(tenant, tc.creds, model)
	if err != nil {
		return nil, err
	}
	tc.chains[model] = c
	return c, nil
}

// build assembles the tenant's chain; a chain without any link answers
// LLM_UNAVAILABLE, saying why.
func (m *TenantModels) build(tenant string, creds []ports.ModelCredential, model string) (ports.ChatModel, error) {
	var links []Link
	var why []string
	for i, cl := range m.chain {
		if i == 0 && model != "" {
			cl.Model = model // the agent's model overrides the primary's only
		}
		var cred *ports.ModelCredential
		for j := range creds {
			if creds[j].Provider == cl.Provider {
				cred = &creds[j]
			}
		}
		switch {
		case cl.Provider == ProviderOffline:
			links = append(links, Link{Provider: ProviderOffline, Chat: Offline{}})
		case cred != nil && len(cred.Models) > 0 && !slices.Contains(cred.Models, cl.Model):
			why = append(why, fmt.Sprintf("the tenant's %s key is not for %s", cl.Provider, cl.Model))
		case cred != nil:
			l, err := m.tenantLink(tenant, cl, cred)
			if err != nil {
				return nil, err
			}
			links = append(links, l)
		case m.keys.Require:
			why = append(why, fmt.Sprintf("the tenant has no %s key, and tenants must bring their own", cl.Provider))
		default:
			l, err := m.cfg.link(cl, i == 0, m.client)
			if err != nil {
				return nil, err
			}
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		return nil, domain.Errorf(domain.CodeLLMUnavailable, "no model this tenant may use: %s", strings.Join(why, "; "))
	}
	return NewResilient(m.guard, m.log, links...)
}

// tenantLink is a link on the tenant's own key: the tenant's server or the
// provider's own API, and a breaker of the tenant's own.
func (m *TenantModels) tenantLink(tenant string, cl ChainLink, cred *ports.ModelCredential) (Link, error) {
	l := Link{Provider: cl.Provider, Model: cl.Model, BaseURL: cred.BaseURL, Tenant: tenantTag(tenant)}
	var err error
	switch cl.Provider {
	case ProviderOpenAI:
		l.Chat, err = NewOpenAI(OpenAIConfig{BaseURL: cred.BaseURL, APIKey: cred.APIKey, Model: cl.Model, HTTPClient: m.client})
	case ProviderAnthropic:
		l.Chat, err = NewAnthropic(AnthropicConfig{BaseURL: cred.BaseURL, APIKey: cred.APIKey, Model: cl.Model, HTTPClient: m.client})
	default:
		err = fmt.Errorf("unknown provider %q", cl.Provider)
	}
	if err != nil {
		return Link{}, domain.WrapError(domain.CodeLLMUnavailable, err, "the tenant's "+cl.Provider+" key cannot be used")
	}
	// The adapters redact their own key from every error they return, so
	// the tenant's key reaches no log line.
	return l, nil
}

// tenantTag names a tenant in breaker names without its id: a short hash.
func tenantTag(tenant string) string {
	sum := sha256.Sum256([]byte("focal tenant breaker\x00" + tenant))
	return hex.EncodeToString(sum[:4])
}
