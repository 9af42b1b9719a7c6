package application

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/adapters/memory"
	"focal/domain"
	"focal/ports"
)

const (
	testTenant = "550e8400-e29b-41d4-a716-446655440000"
	testAgent  = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
)

// sharedStore is a PolicyStore that hands out the stored value itself (to
// check that the use case never changes what a store returns), numbering
// versions as ports.PolicyStore says, deletion markers included.
// beforeSave, when set, runs before each save (to simulate another writer).
type sharedStore struct {
	mu         sync.Mutex
	policies   map[string]*domain.Policy
	deleted    map[string]int64 // deletion markers: the version the delete took
	beforeSave func(s *sharedStore)
}

func newSharedStore(p *domain.Policy) *sharedStore {
	s := &sharedStore{policies: map[string]*domain.Policy{}, deleted: map[string]int64{}}
	if p != nil {
		s.policies[p.Agent.ID] = p
	}
	return s
}

func (s *sharedStore) GetPolicy(_ context.Context, _, agentID string) (*domain.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[agentID]
	if !ok {
		return nil, domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	return p, nil
}

func (s *sharedStore) AgentVersion(ctx context.Context, tenantID, agentID string) (int64, error) {
	p, err := s.GetPolicy(ctx, tenantID, agentID)
	if err != nil {
		return 0, err
	}
	return p.Agent.Version, nil
}

func (s *sharedStore) SavePolicy(_ context.Context, _ string, p *domain.Policy) error {
	if s.beforeSave != nil {
		hook := s.beforeSave
		s.beforeSave = nil
		hook(s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	current, live := s.deleted[p.Agent.ID], false
	if old, ok := s.policies[p.Agent.ID]; ok {
		current, live = old.Agent.Version, true
	}
	if p.Agent.Version == 0 && !live {
		p.Agent.Version = current + 1
	}
	if p.Agent.Version != current+1 {
		return domain.Errorf(domain.CodeVersionConflict, "version %d taken", p.Agent.Version)
	}
	s.policies[p.Agent.ID] = p
	delete(s.deleted, p.Agent.ID)
	return nil
}

func (s *sharedStore) ListAgents(context.Context, string, ports.PageRequest) (ports.Page[domain.Agent], error) {
	return ports.Page[domain.Agent]{}, nil
}

func (s *sharedStore) DeleteAgent(_ context.Context, _, agentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.policies[agentID]
	if !ok {
		return domain.Errorf(domain.CodeAgentNotFound, "agent %s not found", agentID)
	}
	s.deleted[agentID] = p.Agent.Version + 1
	delete(s.policies, agentID)
	return nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// After is the wall clock's: nothing here waits on this clock.
func (c fixedClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c fixedClock) AfterFunc(d time.Duration, f func()) ports.Timer { return time.AfterFunc(d, f) }

func testPolicy() *domain.Policy {
	temp := 0.2
	return &domain.Policy{
		Agent: domain.Agent{ID: testAgent, TenantID: testTenant, Name: "Shop", Enabled: true, Version: 3,
			Settings: domain.AgentSettings{Temperature: &temp}},
		Scenarios: []domain.Scenario{{ID: "returns", EntryCondition: "return", EntryStepID: "ask", Enabled: true,
			Steps: []domain.Step{{ID: "ask"}, {ID: "done", Terminal: true}}}},
		Rules: []domain.Rule{
			{ID: "hours", Condition: "opening hours", Scope: domain.ScopeGlobal, Enabled: true, TemplateIDs: []string{"tpl_hours"}},
			{ID: "in_returns", Condition: "cancel", Scope: domain.ScopeStep, ScopeID: "returns/done", Enabled: true},
		},
		Templates: []domain.Template{{ID: "tpl_hours", Text: "We open at 9.", Mode: domain.ModeExclusive}},
	}
}

func newTestAdmin(t *testing.T, store ports.PolicyStore) *PolicyAdmin {
	t.Helper()
	clock := fixedClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cache, err := NewPolicyCache(store, clock, time.Minute)
	require.NoError(t, err)
	admin, err := NewPolicyAdmin(store, cache, clock)
	require.NoError(t, err)
	return admin
}

func snapshot(t *testing.T, p *domain.Policy) string {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return string(raw)
}

func TestPolicyEditWorksOnACopy(t *testing.T) {
	stored := testPolicy()
	before := snapshot(t, stored)
	store := newSharedStore(stored)
	admin := newTestAdmin(t, store)

	saved, err := admin.Edit(context.Background(), testTenant, testAgent, 3, func(p *domain.Policy) error {
		p.Rules[0].TemplateIDs[0] = "tpl_other"
		p.Templates = append(p.Templates, domain.Template{ID: "tpl_other", Text: "Other.", Mode: domain.ModeSuggest})
		*p.Agent.Settings.Temperature = 0.9
		p.Agent.ID, p.Agent.Version, p.Agent.TenantID = "hijack", 99, "other" // not the edit's to decide
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, before, snapshot(t, stored), "the value the store handed out is untouched")
	assert.Equal(t, testAgent, saved.Agent.ID)
	assert.Equal(t, testTenant, saved.Agent.TenantID)
	assert.EqualValues(t, 4, saved.Agent.Version)
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), saved.Agent.UpdatedAt)
	assert.Equal(t, "tpl_other", saved.Rules[0].TemplateIDs[0])
	current, _ := store.GetPolicy(context.Background(), testTenant, testAgent)
	assert.Same(t, saved, current)
}

func TestPolicyEditVersionChecks(t *testing.T) {
	store := newSharedStore(testPolicy())
	admin := newTestAdmin(t, store)
	ctx := context.Background()
	noop := func(*domain.Policy) error { return nil }

	_, err := admin.Edit(ctx, testTenant, testAgent, 2, noop)
	require.True(t, domain.IsCode(err, domain.CodeVersionConflict), "%v", err)
	assert.Contains(t, err.Error(), "is at version 3, not 2")

	// Another writer takes version 4 between our read and our save.
	otherWriter := func(s *sharedStore) {
		p := testPolicy()
		p.Agent.Version = 4
		p.Agent.Name = "Renamed by someone else"
		s.policies[testAgent] = p
	}
	store.beforeSave = otherWriter
	_, err = admin.Edit(ctx, testTenant, testAgent, 3, noop)
	require.True(t, domain.IsCode(err, domain.CodeVersionConflict), "%v", err)
	assert.Contains(t, err.Error(), "is at version 4, not 3")

	// Without If-Match the edit is applied again to the newer version.
	store.policies[testAgent] = testPolicy()
	store.beforeSave = otherWriter
	calls := 0
	saved, err := admin.Edit(ctx, testTenant, testAgent, 0, func(p *domain.Policy) error {
		calls++
		p.Agent.Description = "edited"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	assert.EqualValues(t, 5, saved.Agent.Version)
	assert.Equal(t, "Renamed by someone else", saved.Agent.Name, "the other writer's change is kept")
	assert.Equal(t, "edited", saved.Agent.Description)

	_, err = admin.Edit(ctx, testTenant, "not-a-uuid", 0, noop)
	assert.True(t, domain.IsCode(err, domain.CodeAgentNotFound))
}

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, domain.CodeInvalidRequest, de.Code, "%v", err)
	var fields []string
	for _, d := range de.Details {
		fields = append(fields, d.Field)
	}
	return fields
}

func TestPolicyPartErrorsNameTheEditedPart(t *testing.T) {
	admin := newTestAdmin(t, newSharedStore(testPolicy()))
	ctx := context.Background()

	_, err := admin.Rules().Replace(ctx, testTenant, testAgent, "in_returns", 0,
		domain.Rule{Condition: "x", Scope: domain.ScopeStep, ScopeID: "returns/nope", Enabled: true})
	assert.Equal(t, []string{"scope_id"}, fieldsOf(t, err))

	// Removing a step a rule is scoped to blames the rule, with its path.
	_, err = admin.Scenarios().Replace(ctx, testTenant, testAgent, "returns", 0, domain.Scenario{
		EntryCondition: "return", EntryStepID: "ask", Steps: []domain.Step{{ID: "ask", Terminal: true}}})
	assert.Equal(t, []string{"rules[1].scope_id"}, fieldsOf(t, err))

	_, err = admin.Templates().Create(ctx, testTenant, testAgent, 0, domain.Template{ID: "tpl_hours", Text: "x", Mode: domain.ModeSuggest})
	assert.Equal(t, []string{"id"}, fieldsOf(t, err))

	_, err = admin.Templates().Delete(ctx, testTenant, testAgent, "tpl_hours", 0)
	assert.Equal(t, []string{"rules[0].template_ids[0]"}, fieldsOf(t, err))
	assert.Contains(t, err.Error(), "template tpl_hours is still in use")

	_, err = admin.Tools().Get(ctx, testTenant, testAgent, "crm", ViewerAdmin)
	assert.True(t, domain.IsCode(err, domain.CodeNotFound))
	assert.Contains(t, err.Error(), "tool crm not found")

	_, err = admin.UpdateAgent(ctx, testTenant, testAgent, 0, domain.Agent{Name: "", Enabled: true})
	assert.Equal(t, []string{"name"}, fieldsOf(t, err))
}

func TestPolicyPartListPages(t *testing.T) {
	p := testPolicy()
	for _, id := range []string{"c", "a", "b"} {
		p.Rules = append(p.Rules, domain.Rule{ID: id, Condition: id, Scope: domain.ScopeGlobal, Enabled: true})
	}
	admin := newTestAdmin(t, newSharedStore(p))
	var ids []string
	page := ports.PageRequest{Limit: 2}
	for {
		res, err := admin.Rules().List(context.Background(), testTenant, testAgent, page, ViewerMember)
		require.NoError(t, err)
		assert.EqualValues(t, 3, res.Version)
		for _, r := range res.Value.Items {
			ids = append(ids, r.ID)
		}
		if res.Value.NextCursor == "" {
			break
		}
		page.Cursor = res.Value.NextCursor
	}
	assert.Equal(t, []string{"a", "b", "c", "hours", "in_returns"}, ids)
}

func TestPolicyImportBundle(t *testing.T) {
	store := newSharedStore(nil)
	admin := newTestAdmin(t, store)
	ctx := context.Background()

	_, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent,
		Bundle: []byte("agent:\n  name: x\n  mood: calm\nrules:\n  - id: r\n    condition: c\n    colour: red\n")})
	assert.Equal(t, []string{"agent.mood", "rules[0].colour"}, fieldsOf(t, err))

	res, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: []byte(`{"agent":{"name":"Shop"}}`)})
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.EqualValues(t, 1, res.Policy.Agent.Version)
	assert.Empty(t, res.Policy.Agent.TenantID, "bundles carry no tenant")
	assert.NotNil(t, res.Policy.Rules)

	// The YAML export parses back into the same policy.
	stored := testPolicy()
	stored.Agent.Version = 1
	stored.Agent.SystemPrompt = "Line one.\nLine two: yes\n"
	store.policies[testAgent] = stored
	exported, err := admin.ExportBundle(ctx, testTenant, testAgent, ViewerAdmin)
	require.NoError(t, err)
	out, err := EncodeBundleYAML(exported)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "agent:\n  id: "+testAgent), "%s", out)
	back, err := ParseBundle(out)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, exported), snapshot(t, back))

	res, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, IfVersion: 1, Bundle: out})
	require.NoError(t, err)
	assert.False(t, res.Created)
	assert.EqualValues(t, 2, res.Policy.Agent.Version)

	_, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: []byte(`{"agent":{"id":"` + testTenant + `","name":"x"}}`)})
	assert.Equal(t, []string{"agent.id"}, fieldsOf(t, err))
	_, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: []byte(`{"agent":{"tenant_id":"` + testAgent + `","name":"x"}}`)})
	require.NoError(t, err, "a bundle's tenant_id is for start-up imports only")
	assert.Equal(t, testTenant, store.policies[testAgent].Agent.TenantID)
}

// A deleted agent created again never reuses a version number, so nothing
// keyed by (agent, version) can serve its old policy.
func TestPolicyRecreatedAgentGetsNewVersions(t *testing.T) {
	store := newSharedStore(nil)
	admin := newTestAdmin(t, store)
	ctx := context.Background()

	agent, err := admin.CreateAgent(ctx, testTenant, domain.Agent{ID: testAgent, Name: "First", Enabled: true})
	require.NoError(t, err)
	assert.EqualValues(t, 1, agent.Version, "a new id starts at 1")
	_, err = admin.UpdateAgent(ctx, testTenant, testAgent, 1, domain.Agent{Name: "First, renamed", Enabled: true})
	require.NoError(t, err)
	cached, err := admin.cache.Get(ctx, testTenant, testAgent)
	require.NoError(t, err)
	require.EqualValues(t, 2, cached.Agent.Version)

	require.NoError(t, admin.DeleteAgent(ctx, testTenant, testAgent, 0))
	agent, err = admin.CreateAgent(ctx, testTenant, domain.Agent{ID: testAgent, Name: "Second", Enabled: true})
	require.NoError(t, err)
	assert.EqualValues(t, 4, agent.Version, "after version 2 and the deletion marker at 3")
	got, err := admin.cache.Get(ctx, testTenant, testAgent)
	require.NoError(t, err)
	assert.Equal(t, "Second", got.Agent.Name, "the cache serves the new agent, not the old one")

	require.NoError(t, admin.DeleteAgent(ctx, testTenant, testAgent, 0))
	res, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: []byte(`{"agent":{"name":"Third"}}`)})
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.EqualValues(t, 6, res.Policy.Agent.Version, "an import re-creates after the marker too")

	require.NoError(t, admin.DeleteAgent(ctx, testTenant, testAgent, 0))
	startup := func(name string) BundleImport {
		return BundleImport{TenantFromBundle: true, SkipUnchanged: true,
			Bundle: []byte(`{"agent":{"id":"` + testAgent + `","tenant_id":"` + testTenant + `","name":"` + name + `"}}`)}
	}
	res, err = admin.ImportBundle(ctx, startup("Fourth"))
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Equal(t, testTenant, res.TenantID, "a start-up bundle names its owner")
	assert.EqualValues(t, 8, res.Policy.Agent.Version, "the start-up import re-creates after the marker too")
	res, err = admin.ImportBundle(ctx, startup("Fifth"))
	require.NoError(t, err)
	assert.EqualValues(t, 9, res.Policy.Agent.Version, "and replaces a live agent as its next version")
	res, err = admin.ImportBundle(ctx, startup("Fifth"))
	require.NoError(t, err)
	assert.True(t, res.Unchanged)
	assert.EqualValues(t, 9, res.Policy.Agent.Version, "an unchanged start-up bundle makes no new version")
}

// Instances starting together with one changed bundle make one new version
// between them: whoever loses the race finds the bundle stored already. A
// bundle without a usable owner is refused before anything is stored.
func TestStartupImportsRacingMakeOneVersion(t *testing.T) {
	ctx := context.Background()
	store := memory.New(fixedClock{time.Now()})
	admin := newTestAdmin(t, store)
	bundle := []byte(`{"agent":{"id":"` + testAgent + `","tenant_id":"` + testTenant + `","name":"Shop"},` +
		`"tools":[{"id":"crm","url":"https://bot:pa55@crm.example.com/hook"}]}`)
	const instances = 8
	results := make([]ImportedBundle, instances)
	var wg sync.WaitGroup
	for i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = admin.ImportBundle(ctx, BundleImport{TenantFromBundle: true, SkipUnchanged: true, Bundle: bundle})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	created, unchanged := 0, 0
	for _, r := range results {
		if r.Created {
			created++
		}
		if r.Unchanged {
			unchanged++
		}
		assert.EqualValues(t, 1, r.Policy.Agent.Version)
	}
	assert.Equal(t, 1, created)
	assert.Equal(t, instances-1, unchanged)
	v, err := store.AgentVersion(ctx, testTenant, testAgent)
	require.NoError(t, err)
	assert.EqualValues(t, 1, v)

	// An admin's export carries the tool URL redacted; imported again it
	// still says what is stored.
	exported, err := admin.ExportBundle(ctx, testTenant, testAgent, ViewerAdmin)
	require.NoError(t, err)
	out, err := EncodeBundleYAML(exported)
	require.NoError(t, err)
	res, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, Bundle: out, SkipUnchanged: true})
	require.NoError(t, err)
	assert.True(t, res.Unchanged)
	assert.EqualValues(t, 1, res.Policy.Agent.Version)

	for name, body := range map[string]string{
		"no tenant_id":        `{"agent":{"id":"` + testAgent + `","name":"Shop"}}`,
		"tenant_id not an id": `{"agent":{"id":"` + testAgent + `","tenant_id":"acme","name":"Shop"}}`,
	} {
		_, err := admin.ImportBundle(ctx, BundleImport{TenantFromBundle: true, Bundle: []byte(body)})
		assert.Equal(t, []string{"agent.tenant_id"}, fieldsOf(t, err), name)
	}
	_, err = admin.ImportBundle(ctx, BundleImport{Bundle: bundle})
	assert.Error(t, err, "an import that names no tenant is refused")
	_, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, Bundle: []byte(`{"agent":{"name":"Shop"}}`)})
	assert.Equal(t, []string{"agent.id"}, fieldsOf(t, err), "without a path, the bundle names its agent")
}

// A tenant holds at most the agents limit of agents; other tenants are
// not affected, and deleting one makes room again.
func TestPolicyAgentsPerTenantAreLimited(t *testing.T) {
	ctx := context.Background()
	store := memory.New(fixedClock{time.Now()})
	limits, err := domain.DefaultPolicyLimits().With(map[string]int{"agents": 2})
	require.NoError(t, err)
	admin := newTestAdmin(t, store).WithLimits(limits)
	ids := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"}
	for _, id := range ids[:2] {
		_, err := admin.CreateAgent(ctx, testTenant, domain.Agent{ID: id, Name: "a", Enabled: true})
		require.NoError(t, err)
	}
	_, err = admin.CreateAgent(ctx, testTenant, domain.Agent{ID: ids[2], Name: "a", Enabled: true})
	require.Error(t, err)
	assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err))
	assert.Contains(t, err.Error(), "policy limit agents")
	_, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: ids[2], Bundle: []byte(`{"agent":{"name":"x"}}`)})
	assert.ErrorContains(t, err, "policy limit agents", "an import that would create the agent counts too")
	_, err = admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: ids[1], Bundle: []byte(`{"agent":{"name":"x"}}`)})
	assert.NoError(t, err, "replacing an existing agent needs no room")

	_, err = admin.CreateAgent(ctx, "00000000-0000-4000-8000-00000000000f", domain.Agent{ID: ids[2], Name: "a", Enabled: true})
	assert.NoError(t, err, "another tenant has its own count")
	require.NoError(t, admin.DeleteAgent(ctx, testTenant, ids[0], 0))
	_, err = admin.CreateAgent(ctx, testTenant, domain.Agent{ID: ids[2], Name: "a", Enabled: true})
	assert.NoError(t, err)
}

// Tool URLs leave the service with their credentials redacted for admins
// and cut to scheme and host for everyone else; an admin's export imported
// again keeps the real credentials.
func TestPolicyToolURLsAreShownRedacted(t *testing.T) {
	ctx := context.Background()
	const secretURL = "https://bot:pa55@crm.example.com/hooks/T1/B2/XYZ?api_key=k3y&region=eu"
	p := testPolicy()
	p.Tools = []domain.Tool{{ID: "crm", URL: secretURL}}
	store := newSharedStore(p)
	admin := newTestAdmin(t, store)

	member, err := admin.Tools().Get(ctx, testTenant, testAgent, "crm", ViewerMember)
	require.NoError(t, err)
	assert.Equal(t, "https://crm.example.com", member.Value.URL)
	list, err := admin.Tools().List(ctx, testTenant, testAgent, ports.PageRequest{}, ViewerMember)
	require.NoError(t, err)
	assert.Equal(t, "https://crm.example.com", list.Value.Items[0].URL)
	exported, err := admin.ExportBundle(ctx, testTenant, testAgent, ViewerMember)
	require.NoError(t, err)
	assert.Equal(t, "https://crm.example.com", exported.Tools[0].URL)

	const redacted = "https://bot:REDACTED@crm.example.com/hooks/T1/B2/XYZ?api_key=REDACTED&region=eu"
	got, err := admin.Tools().Get(ctx, testTenant, testAgent, "crm", ViewerAdmin)
	require.NoError(t, err)
	assert.Equal(t, redacted, got.Value.URL)
	exported, err = admin.ExportBundle(ctx, testTenant, testAgent, ViewerAdmin)
	require.NoError(t, err)
	assert.Equal(t, redacted, exported.Tools[0].URL)
	assert.Equal(t, secretURL, store.policies[testAgent].Tools[0].URL, "reading changes nothing stored")

	out, err := EncodeBundleYAML(exported)
	require.NoError(t, err)
	back, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: out})
	require.NoError(t, err)
	assert.Equal(t, redacted, back.Policy.Tools[0].URL)
	assert.Equal(t, secretURL, store.policies[testAgent].Tools[0].URL, "the export's redacted URL kept the stored secret")

	replaced, err := admin.Tools().Replace(ctx, testTenant, testAgent, "crm", 0, domain.Tool{URL: "https://new.example.com/h?token=t0k"})
	require.NoError(t, err)
	assert.Equal(t, "https://new.example.com/h?token=REDACTED", replaced.Value.URL)
	assert.Equal(t, "https://new.example.com/h?token=t0k", store.policies[testAgent].Tools[0].URL)
}

// A tool's signing secret never leaves the service: admins see that there
// is one (REDACTED), members not even that; an admin's export imported
// again keeps the stored secret, and a new one replaces it.
func TestPolicyToolSecretsAreNeverRead(t *testing.T) {
	ctx := context.Background()
	const secret = "whsec-0123456789abcdef"
	p := testPolicy()
	p.Tools = []domain.Tool{{ID: "crm", URL: "https://crm.example.com/hook", Secret: secret}, {ID: "erp", URL: "https://erp.example.com", SecretEnv: "ERP"}}
	store := newSharedStore(p)
	admin := newTestAdmin(t, store)

	for _, viewer := range []Viewer{ViewerAdmin, ViewerMember} {
		want := map[Viewer]string{ViewerAdmin: domain.Redacted, ViewerMember: ""}[viewer]
		got, err := admin.Tools().Get(ctx, testTenant, testAgent, "crm", viewer)
		require.NoError(t, err)
		assert.Equal(t, want, got.Value.Secret)
		list, err := admin.Tools().List(ctx, testTenant, testAgent, ports.PageRequest{}, viewer)
		require.NoError(t, err)
		assert.Equal(t, want, list.Value.Items[0].Secret)
		exported, err := admin.ExportBundle(ctx, testTenant, testAgent, viewer)
		require.NoError(t, err)
		assert.Equal(t, want, exported.Tools[0].Secret)
		assert.Equal(t, "ERP", exported.Tools[1].SecretEnv, "an environment variable's name is no secret")
		raw, err := json.Marshal(exported)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), secret)
	}

	exported, err := admin.ExportBundle(ctx, testTenant, testAgent, ViewerAdmin)
	require.NoError(t, err)
	out, err := EncodeBundleYAML(exported)
	require.NoError(t, err)
	back, err := admin.ImportBundle(ctx, BundleImport{TenantID: testTenant, AgentID: testAgent, Bundle: out})
	require.NoError(t, err)
	assert.Equal(t, domain.Redacted, back.Policy.Tools[0].Secret)
	assert.Equal(t, secret, store.policies[testAgent].Tools[0].Secret, "the export's REDACTED kept the stored secret")

	replaced, err := admin.Tools().Replace(ctx, testTenant, testAgent, "crm", 0,
		domain.Tool{URL: "https://crm.example.com/hook", Secret: "whsec-rotated-0123456789"})
	require.NoError(t, err)
	assert.Equal(t, domain.Redacted, replaced.Value.Secret)
	assert.Equal(t, "whsec-rotated-0123456789", store.policies[testAgent].Tools[0].Secret)

	_, err = admin.Tools().Create(ctx, testTenant, testAgent, 0, domain.Tool{ID: "new", URL: "https://x.example.com", Secret: domain.Redacted})
	var de *domain.Error
	require.ErrorAs(t, err, &de, "REDACTED with nothing stored is no secret")
	assert.Equal(t, "secret", de.Details[0].Field)
}
