package contract

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var policyCases = []testCase{
	{"SaveAndGet", testSaveAndGetPolicy},
	{"VersionRules", testPolicyVersionRules},
	{"ConcurrentSaversOneWinner", testConcurrentPolicySavers},
	{"ListAgents", testListAgents},
	{"ListAgentsByteWise", testAgentsByteWise},
	{"DeleteAgent", testDeleteAgent},
	{"VersionsNeverReusedAfterDelete", testVersionsNeverReused},
	{"ConcurrentDeleteAndSave", testConcurrentDeleteAndSave},
	{"ConcurrentCreatesOneWinner", testConcurrentCreates},
	{"TenantIsolation", testPolicyTenantIsolation},
}

// samplePolicy is a small but complete policy of agent at version.
func samplePolicy(agentID string, version int64, name string) *domain.Policy {
	return &domain.Policy{
		Agent: domain.Agent{
			ID: agentID, Name: name, SystemPrompt: "You are helpful.", Enabled: true, Version: version,
			Settings: domain.AgentSettings{TopK: 3, RuleJudge: true},
		},
		Rules: []domain.Rule{
			{ID: "greet", Name: "Greet", Condition: "user says hello", Action: "greet back", Scope: domain.ScopeGlobal, Priority: 10, Enabled: true},
			{ID: "no-promises", Condition: "refund", Action: "never promise", Scope: domain.ScopeGlobal, Enabled: true, Hard: true,
				Constraints: []domain.Constraint{{Kind: domain.ConstraintForbidPhrase, Value: "guaranteed"}}},
		},
		Scenarios: []domain.Scenario{{
			ID: "returns", EntryCondition: "return an item", EntryStepID: "ask", Enabled: true,
			Steps: []domain.Step{{ID: "ask", Instructions: "ask for the order", Transitions: []domain.Transition{
				{To: "done", Condition: "order number"}, {To: "done", When: `vars.order_id != nil`}}}, {ID: "done", Terminal: true}},
		}},
		Templates: []domain.Template{{ID: "hello", Text: "Hello {name}!", Mode: domain.ModeSuggest, Default: "Hello {meta.first_name|there}!"}},
		Tools:     []domain.Tool{{ID: "lookup", URL: "https://tools.example/lookup", TimeoutMS: 500, Secret: "whsec-stored-as-given-0123"}},
		// Variables hold every kind of value a store must give back as it
		// took it: pointers, nested lists, a value of any JSON type.
		Variables: []domain.Variable{
			{Name: "order_id", Type: domain.VarPattern, Pattern: `\bac-(\d{6})\b`, Normalize: "AC-$1", Changeable: true},
			{Name: "reason", Type: domain.VarEnum, Values: []domain.EnumValue{{Value: "wrong_size", Synonyms: []string{"too tight"}}, {Value: "damaged"}}, Initial: "damaged"},
			{Name: "refund", Type: domain.VarAmount, Currency: "EUR", Min: &zeroAmount, Initial: 12.5, FromMetadata: "refund"},
		},
	}
}

var zeroAmount = 0.0

// requireSamePolicy compares policies as stored, ignoring the tenant id a
// store may fill in.
func requireSamePolicy(t *testing.T, want, got *domain.Policy) {
	t.Helper()
	g := *got
	g.Agent.TenantID = want.Agent.TenantID
	requireJSONEqual(t, want, &g)
}

func testSaveAndGetPolicy(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	_, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "GetPolicy of an unknown agent")
	_, err = f.Policies.AgentVersion(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "AgentVersion of an unknown agent")

	v1 := samplePolicy(agent, 1, "First")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, v1))
	want := samplePolicy(agent, 1, "First")
	v1.Rules[0].Name = "changed by the caller after saving"
	got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	requireSamePolicy(t, want, got)
	got.Rules[0].Name, got.Agent.Name = "changed by the reader", "changed by the reader"
	again, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	requireSamePolicy(t, want, again)
	v, err := f.Policies.AgentVersion(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.EqualValues(t, 1, v)

	v2 := samplePolicy(agent, 2, "Second")
	v2.Rules = v2.Rules[:1]
	v2.Agent.Enabled = false
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, v2))
	got, err = f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err, "a disabled agent is still returned")
	requireSamePolicy(t, v2, got)
	v, err = f.Policies.AgentVersion(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
}

func testPolicyVersionRules(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	for _, v := range []int64{2, -1} {
		err := f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, v, "bad"))
		requireCode(t, err, domain.CodeVersionConflict, fmt.Sprintf("a new agent saved at version %d", v))
	}
	_, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "refused saves store nothing")

	// Version 0 creates, and the store says which number it took.
	created := samplePolicy(agent, 0, "one")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, created))
	require.EqualValues(t, 1, created.Agent.Version, "a new id starts at version 1")
	got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.EqualValues(t, 1, got.Agent.Version)
	for _, v := range []int64{1, 3, 0, -1} {
		err := f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, v, "bad"))
		requireCode(t, err, domain.CodeVersionConflict, fmt.Sprintf("version %d over version 1", v))
	}
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 2, "two")))
	got, err = f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.Equal(t, "two", got.Agent.Name)
	require.EqualValues(t, 2, got.Agent.Version)

	// Version 1 still creates a never-used id, as before.
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy("agent-"+newID(), 1, "explicit")))
}

func testConcurrentPolicySavers(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 1, "one")))
	const savers = 10
	results := race(savers, func(i int) (string, error) {
		name := fmt.Sprintf("saver-%d", i)
		return name, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 2, name))
	})
	var winners []string
	for _, r := range results {
		if r.err == nil {
			winners = append(winners, r.value)
			continue
		}
		requireCode(t, r.err, domain.CodeVersionConflict, "a losing saver")
	}
	require.Len(t, winners, 1, "exactly one of %d concurrent savers of version 2 wins", savers)
	got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.Equal(t, winners[0], got.Agent.Name, "the stored policy is the winner's")
	require.EqualValues(t, 2, got.Agent.Version)
}

func testListAgents(t *testing.T, f *fixture) {
	tenant, other := newID(), newID()
	ids := []string{"agent-d", "agent-a", "agent-e", "agent-c", "agent-b"}
	for i, id := range ids {
		require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(id, 1, id+"-v1")))
		if i%2 == 0 {
			require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(id, 2, id+"-v2")))
		}
	}
	require.NoError(t, f.Policies.SavePolicy(f.ctx, other, samplePolicy("agent-0", 1, "other tenant's")))

	var seen []string
	cursor := ""
	for pageNo := 0; ; pageNo++ {
		require.Less(t, pageNo, 5, "paging must end")
		page, err := f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		require.NotEmpty(t, page.Items, "no empty page before the end")
		require.LessOrEqual(t, len(page.Items), 2)
		for _, a := range page.Items {
			seen = append(seen, a.ID)
			wantVersion := int64(1)
			if a.ID == "agent-d" || a.ID == "agent-e" || a.ID == "agent-b" {
				wantVersion = 2
			}
			require.Equal(t, wantVersion, a.Version, "agents are listed at their current version")
			require.Equal(t, fmt.Sprintf("%s-v%d", a.ID, wantVersion), a.Name)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []string{"agent-a", "agent-b", "agent-c", "agent-d", "agent-e"}, seen,
		"pages list every agent once, by id, and nothing of another tenant")

	all, err := f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{})
	require.NoError(t, err)
	require.Len(t, all.Items, 5, "limit 0 means the default page size")
	require.Empty(t, all.NextCursor)

	_, err = f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{Limit: 2, Cursor: "%%not-a-cursor%%"})
	requireCode(t, err, domain.CodeInvalidRequest, "a bad cursor")

	empty, err := f.Policies.ListAgents(f.ctx, newID(), ports.PageRequest{})
	require.NoError(t, err)
	require.Empty(t, empty.Items)
	require.Empty(t, empty.NextCursor)
}

func testDeleteAgent(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	requireCode(t, f.Policies.DeleteAgent(f.ctx, tenant, agent), domain.CodeAgentNotFound, "deleting an unknown agent")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 1, "one")))
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 2, "two")))
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy("agent-keep", 1, "kept")))

	require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, agent))
	_, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "GetPolicy after delete")
	_, err = f.Policies.AgentVersion(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "AgentVersion after delete")
	page, err := f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, "agent-keep", page.Items[0].ID)
	requireCode(t, f.Policies.DeleteAgent(f.ctx, tenant, agent), domain.CodeAgentNotFound, "deleting twice")

	// The numbers the agent used stay used.
	for _, v := range []int64{1, 2, -1} {
		requireCode(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, v, "reborn")), domain.CodeVersionConflict,
			fmt.Sprintf("version %d after a delete", v))
	}
	_, err = f.Policies.GetPolicy(f.ctx, tenant, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "refused saves do not bring the agent back")
}

// recreate creates the agent with version 0 and returns the number it got.
func (f *fixture) recreate(tenant, agent, name string) int64 {
	f.t.Helper()
	p := samplePolicy(agent, 0, name)
	require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, p))
	v, err := f.Policies.AgentVersion(f.ctx, tenant, agent)
	require.NoError(f.t, err)
	require.Equal(f.t, v, p.Agent.Version, "SavePolicy sets the version it stored")
	got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(f.t, err)
	require.Equal(f.t, name, got.Agent.Name)
	require.Equal(f.t, v, got.Agent.Version)
	return v
}

func testVersionsNeverReused(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	last := f.recreate(tenant, agent, "first life")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, last+1, "first life, v2")))
	last++
	for life := 2; life <= 4; life++ {
		require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, agent))
		name := fmt.Sprintf("life %d", life)
		v := f.recreate(tenant, agent, name)
		require.Greater(t, v, last, "a re-created agent gets a version above every earlier one")
		last = v
		page, err := f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{})
		require.NoError(t, err)
		require.Len(t, page.Items, 1, "listed once")
		require.Equal(t, v, page.Items[0].Version)
		require.Equal(t, name, page.Items[0].Name)
	}
	requireCode(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 0, "again")), domain.CodeVersionConflict,
		"version 0 does not overwrite a live agent")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, last+1, "update")), "updates go on as usual")
}

func testConcurrentDeleteAndSave(t *testing.T, f *fixture) {
	tenant := newID()
	for round := range 8 {
		agent := fmt.Sprintf("agent-%d-%s", round, newID())
		require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 1, "v1")))
		results := race(2, func(i int) (string, error) {
			if i == 0 {
				return "delete", f.Policies.DeleteAgent(f.ctx, tenant, agent)
			}
			return "save", f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 2, "saved"))
		})
		deleted, saved := results[0].err == nil, results[1].err == nil
		require.True(t, deleted || saved, "round %d: one of them wins (delete: %v, save: %v)", round, results[0].err, results[1].err)
		if !deleted {
			requireCode(t, results[0].err, domain.CodeVersionConflict, "the losing delete")
		}
		if !saved {
			requireCode(t, results[1].err, domain.CodeVersionConflict, "the losing save")
		}
		got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
		if deleted {
			// The save lost, or it came first and was deleted with the rest.
			requireCode(t, err, domain.CodeAgentNotFound, fmt.Sprintf("round %d: a delete that succeeded is not undone by a save", round))
		} else {
			require.NoError(t, err, "round %d: the delete lost to the save", round)
			require.Equal(t, "saved", got.Agent.Name)
			require.EqualValues(t, 2, got.Agent.Version)
			require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, agent))
		}
		require.Greater(t, f.recreate(tenant, agent, "after the race"), int64(2), "round %d", round)
	}
}

func testConcurrentCreates(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	require.NoError(t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 1, "v1")))
	require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, agent))
	const creators = 10
	results := race(creators, func(i int) (*domain.Policy, error) {
		p := samplePolicy(agent, 0, fmt.Sprintf("creator-%d", i))
		return p, f.Policies.SavePolicy(f.ctx, tenant, p)
	})
	var winners []*domain.Policy
	for _, r := range results {
		if r.err == nil {
			winners = append(winners, r.value)
			continue
		}
		requireCode(t, r.err, domain.CodeVersionConflict, "a losing creator")
	}
	require.Len(t, winners, 1, "exactly one of %d concurrent creators of a deleted agent wins", creators)
	got, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	require.Equal(t, winners[0].Agent.Name, got.Agent.Name)
	require.Equal(t, winners[0].Agent.Version, got.Agent.Version)
	require.Greater(t, got.Agent.Version, int64(1))
}

func testPolicyTenantIsolation(t *testing.T, f *fixture) {
	mine, theirs, agent := newID(), newID(), "agent-"+newID()
	require.NoError(t, f.Policies.SavePolicy(f.ctx, mine, samplePolicy(agent, 1, "mine-1")))
	require.NoError(t, f.Policies.SavePolicy(f.ctx, mine, samplePolicy(agent, 2, "mine-2")))

	_, err := f.Policies.GetPolicy(f.ctx, theirs, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "GetPolicy across tenants")
	_, err = f.Policies.AgentVersion(f.ctx, theirs, agent)
	requireCode(t, err, domain.CodeAgentNotFound, "AgentVersion across tenants")
	requireCode(t, f.Policies.DeleteAgent(f.ctx, theirs, agent), domain.CodeAgentNotFound, "DeleteAgent across tenants")
	page, err := f.Policies.ListAgents(f.ctx, theirs, ports.PageRequest{})
	require.NoError(t, err)
	require.Empty(t, page.Items, "ListAgents across tenants")

	// The same agent id in another tenant is another agent, versioned on its own.
	requireCode(t, f.Policies.SavePolicy(f.ctx, theirs, samplePolicy(agent, 3, "theirs-3")), domain.CodeVersionConflict,
		"another tenant's versions do not count")
	requireCode(t, f.Policies.SavePolicy(f.ctx, mine, samplePolicy(agent, 0, "mine-again")), domain.CodeVersionConflict,
		"creating an agent that exists")
	theirsNew := samplePolicy(agent, 0, "theirs-1")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, theirs, theirsNew))
	require.EqualValues(t, 1, theirsNew.Agent.Version, "another tenant's versions do not count")
	got, err := f.Policies.GetPolicy(f.ctx, theirs, agent)
	require.NoError(t, err)
	require.Equal(t, "theirs-1", got.Agent.Name)

	got, err = f.Policies.GetPolicy(f.ctx, mine, agent)
	require.NoError(t, err)
	require.Equal(t, "mine-2", got.Agent.Name, "untouched by the other tenant")
	require.EqualValues(t, 2, got.Agent.Version)
	require.NoError(t, f.Policies.DeleteAgent(f.ctx, theirs, agent))
	_, err = f.Policies.GetPolicy(f.ctx, mine, agent)
	require.NoError(t, err, "deleting their agent leaves mine")
	require.NoError(t, f.Policies.SavePolicy(f.ctx, mine, samplePolicy(agent, 3, "mine-3")),
		"their deletion marker does not count for my agent")
}
