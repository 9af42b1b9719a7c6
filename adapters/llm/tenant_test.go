package llm

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
	"focal/test/fakellm"
)

// tenantChat builds the service chain of cfg wrapped for tenants whose
// keys keys returns, and counts how often keys are read.
func tenantChat(t *testing.T, cfg Config, keys map[string][]ports.ModelCredential, required bool) (ports.ChatModel, *atomic.Int32) {
	t.Helper()
	reads := &atomic.Int32{}
	models, err := Build(cfg, Deps{Tenants: &TenantKeys{Require: required,
		Credentials: func(_ context.Context, tenant string) ([]ports.ModelCredential, error) {
			reads.Add(1)
			return keys[tenant], nil
		}}})
	require.NoError(t, err)
	return models.Chat, reads
}

// A tenant's failing key opens a breaker of its own: the service's key,
// on the same model and server, is still called for other tenants.
func TestTenantKeysHaveBreakersOfTheirOwn(t *testing.T) {
	srv, url := fake(t)
	cfg := defaults(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "gpt-test", "FOCAL_LLM_BASE_URL": url + "/v1",
		"FOCAL_LLM_API_KEY": "service-key", "FOCAL_LLM_MAX_RETRIES": "0", "FOCAL_LLM_BREAKER_FAILURES": "2",
	})
	chat, _ := tenantChat(t, cfg, map[string][]ports.ModelCredential{
		"broke": {{Provider: "openai", APIKey: "tenant-key-xyz", BaseURL: url + "/v1", Revision: 1}},
	}, false)
	srv.SetResponder(func(r fakellm.Request) fakellm.Reply {
		if r.Header.Get("Authorization") == "Bearer tenant-key-xyz" {
			return fakellm.Reply{Status: 500}
		}
		return fakellm.Reply{Text: "fine"}
	})
	broke := ports.WithTenant(context.Background(), "broke")
	for range 2 {
		_, _, err := collect(broke, chat, chatRequest("x"))
		assert.Equal(t, domain.CodeLLMError, errCode(err))
	}
	calls := srv.Count()
	_, _, err := collect(broke, chat, chatRequest("x"))
	assert.Equal(t, domain.CodeLLMUnavailable, errCode(err), "the tenant's breaker is open")
	assert.Equal(t, calls, srv.Count(), "and the model is not called")

	for _, ctx := range []context.Context{ports.WithTenant(context.Background(), "other"), context.Background()} {
		_, res, err := collect(ctx, chat, chatRequest("x"))
		require.NoError(t, err, "the service's breaker is closed")
		assert.Equal(t, "gpt-test", res.Model)
	}
	last, _ := srv.Last()
	assert.Equal(t, "Bearer service-key", last.Header.Get("Authorization"))
}

// A chain is built per tenant and requested model, against the allow-list
// and the require setting; keys are read again once Refresh passed.
func TestTenantChains(t *testing.T) {
	srv, url := fake(t)
	cfg := defaults(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "gpt-test", "FOCAL_LLM_BASE_URL": url + "/v1",
		"FOCAL_LLM_API_KEY": "service-key", "FOCAL_LLM_FALLBACKS": "offline",
	})
	keys := map[string][]ports.ModelCredential{
		"limited": {{Provider: "openai", APIKey: "limited-key", BaseURL: url + "/v1", Models: []string{"gpt-agent"}, Revision: 1}},
	}
	chat, reads := tenantChat(t, cfg, keys, true)
	limited := ports.WithTenant(context.Background(), "limited")

	req := chatRequest("x")
	req.Model = "gpt-agent" // the agent's model, on the allow-list
	_, res, err := collect(limited, chat, req)
	require.NoError(t, err)
	assert.Equal(t, "gpt-agent", res.Model)
	last, _ := srv.Last()
	assert.Equal(t, "Bearer limited-key", last.Header.Get("Authorization"))

	// The service's model is not on the list, and with keys required the
	// service's key is no way out: the offline link answers.
	calls := srv.Count()
	_, _, err = collect(limited, chat, chatRequest("x"))
	assert.ErrorIs(t, err, ports.ErrOffline)
	assert.Equal(t, calls, srv.Count())
	_, _, err = collect(ports.WithTenant(context.Background(), "keyless"), chat, chatRequest("x"))
	assert.ErrorIs(t, err, ports.ErrOffline, "a tenant without keys gets no model but offline")
	assert.Equal(t, calls, srv.Count())
	assert.EqualValues(t, 3, reads.Load(), "Refresh 0: the keys are read for every call")
}

// A tenant who replaces a key (a new revision for the same provider) is
// served with the new key from the next read of its keys: a leaked or
// revoked key is not kept in use.
func TestATenantsReplacedKeyIsUsed(t *testing.T) {
	srv, url := fake(t)
	cfg := defaults(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "gpt-test", "FOCAL_LLM_BASE_URL": url + "/v1",
		"FOCAL_LLM_API_KEY": "service-key",
	})
	keys := map[string][]ports.ModelCredential{
		"acme": {{Provider: "openai", APIKey: "acme-key-1", BaseURL: url + "/v1", Revision: 1}},
	}
	chat, _ := tenantChat(t, cfg, keys, false)
	acme := ports.WithTenant(context.Background(), "acme")
	_, _, err := collect(acme, chat, chatRequest("x"))
	require.NoError(t, err)
	last, _ := srv.Last()
	assert.Equal(t, "Bearer acme-key-1", last.Header.Get("Authorization"))

	keys["acme"] = []ports.ModelCredential{{Provider: "openai", APIKey: "acme-key-2", BaseURL: url + "/v1", Revision: 2}}
	_, _, err = collect(acme, chat, chatRequest("x"))
	require.NoError(t, err)
	last, _ = srv.Last()
	assert.Equal(t, "Bearer acme-key-2", last.Header.Get("Authorization"))
}

// The agent's model overrides the primary's only: a tenant's fallback to
// another provider asks for its own configured model.
func TestATenantsFallbackKeepsItsModel(t *testing.T) {
	primary, purl := fake(t)
	second, surl := fake(t)
	primary.SetDefaults(fakellm.Reply{Status: 500})
	cfg := defaults(t, map[string]string{
		"FOCAL_LLM_PROVIDER": "openai", "FOCAL_LLM_MODEL": "gpt-test", "FOCAL_LLM_BASE_URL": purl + "/v1",
		"FOCAL_LLM_API_KEY": "service-key", "FOCAL_LLM_MAX_RETRIES": "0",
		"FOCAL_LLM_FALLBACKS": "anthropic:claude-test@" + surl,
	})
	chat, _ := tenantChat(t, cfg, map[string][]ports.ModelCredential{
		"acme": {{Provider: "openai", APIKey: "acme-key", BaseURL: purl + "/v1", Revision: 1}},
	}, false)
	req := chatRequest("x")
	req.Model = "gpt-agent"
	_, res, err := collect(ports.WithTenant(context.Background(), "acme"), chat, req)
	require.NoError(t, err)
	assert.Equal(t, "claude-test", res.Model)
	first, _ := primary.Last()
	assert.Equal(t, "gpt-agent", first.Model)
	last, _ := second.Last()
	assert.Equal(t, "claude-test", last.Model)
}
