package contract

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

var policyHistoryCases = []testCase{
	{"EveryVersionStaysReadable", testEveryVersionReadable},
	{"ListingPages", testPolicyVersionPages},
	{"UnknownAgentsAndVersions", testUnknownPolicyVersions},
	{"DeleteEndsTheHistory", testDeleteEndsTheHistory},
	{"TenantIsolation", testPolicyHistoryTenantIsolation},
}

// saveVersions saves versions 1..n of agent, each with its own name and
// one more rule than the last, and returns them as saved.
func (f *fixture) saveVersions(tenant, agent string, first int64, n int) []*domain.Policy {
	f.t.Helper()
	var saved []*domain.Policy
	for i := range n {
		v := first + int64(i)
		p := samplePolicy(agent, v, fmt.Sprintf("version %d", v))
		if first > 1 && i == 0 {
			p.Agent.Version = 0 // a create after a delete takes the next number
		}
		p.Rules = append(p.Rules, domain.Rule{ID: fmt.Sprintf("rule-%d", v), Condition: "c", Action: "a", Scope: domain.ScopeGlobal, Enabled: true})
		require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, p))
		require.Equal(f.t, v, p.Agent.Version)
		saved = append(saved, samplePolicy(agent, v, p.Agent.Name))
		saved[i].Rules = p.Rules
	}
	return saved
}

// versions lists every version number of agent, newest first, page by page.
func (f *fixture) versions(tenant, agent string, limit int) []int64 {
	f.t.Helper()
	var out []int64
	page := ports.PageRequest{Limit: limit}
	for range 100 {
		p, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, page)
		require.NoError(f.t, err)
		require.LessOrEqual(f.t, len(p.Items), ports.PageLimit(limit))
		for _, a := range p.Items {
			out = append(out, a.Version)
		}
		if p.NextCursor == "" {
			return out
		}
		page.Cursor = p.NextCursor
	}
	f.t.Fatal("the listing never ends")
	return nil
}

func testEveryVersionReadable(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	saved := f.saveVersions(tenant, agent, 1, 4)
	for _, want := range saved {
		got, err := f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, want.Agent.Version)
		require.NoError(t, err, "version %d", want.Agent.Version)
		requireSamePolicy(t, want, got)
		got.Rules[0].Name = "changed by the reader"
		again, err := f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, want.Agent.Version)
		require.NoError(t, err)
		requireSamePolicy(t, want, again)
	}
	page, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, ports.PageRequest{})
	require.NoError(t, err)
	require.Len(t, page.Items, 4)
	for i, a := range page.Items {
		want := saved[len(saved)-1-i].Agent
		require.Equal(t, want.Version, a.Version, "newest first")
		require.Equal(t, want.Name, a.Name)
	}
	require.Empty(t, page.NextCursor)
	current, err := f.Policies.GetPolicy(f.ctx, tenant, agent)
	require.NoError(t, err)
	requireSamePolicy(t, saved[3], current)
}

func testPolicyVersionPages(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	f.saveVersions(tenant, agent, 1, 5)
	require.Equal(t, []int64{5, 4, 3, 2, 1}, f.versions(tenant, agent, 2))
	require.Equal(t, []int64{5, 4, 3, 2, 1}, f.versions(tenant, agent, 5))
	_, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, ports.PageRequest{Cursor: "not a cursor!"})
	requireCode(t, err, domain.CodeInvalidRequest, "a cursor the listing did not issue")
}

func testUnknownPolicyVersions(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	_, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, ports.PageRequest{})
	requireCode(t, err, domain.CodeAgentNotFound, "the versions of an unknown agent")
	_, err = f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, 1)
	requireCode(t, err, domain.CodeAgentNotFound, "a version of an unknown agent")
	f.saveVersions(tenant, agent, 1, 2)
	for _, v := range []int64{0, -1, 3, 100} {
		_, err = f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, v)
		requireCode(t, err, domain.CodeNotFound, fmt.Sprintf("version %d of an agent at version 2", v))
	}
}

func testDeleteEndsTheHistory(t *testing.T, f *fixture) {
	tenant, agent := newID(), "agent-"+newID()
	f.saveVersions(tenant, agent, 1, 3)
	require.NoError(t, f.Policies.DeleteAgent(f.ctx, tenant, agent))
	_, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, ports.PageRequest{})
	requireCode(t, err, domain.CodeAgentNotFound, "the versions of a deleted agent")
	_, err = f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, 2)
	requireCode(t, err, domain.CodeAgentNotFound, "a version of a deleted agent")

	// Created again, the agent starts a new life after the deletion
	// marker (version 4): its earlier versions are gone.
	reborn := f.saveVersions(tenant, agent, 5, 2)
	require.Equal(t, []int64{6, 5}, f.versions(tenant, agent, 0))
	for _, v := range []int64{1, 2, 3, 4} {
		_, err = f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, v)
		requireCode(t, err, domain.CodeNotFound, fmt.Sprintf("version %d, from before the deletion", v))
	}
	got, err := f.PolicyHistory.GetPolicyVersion(f.ctx, tenant, agent, 5)
	require.NoError(t, err)
	requireSamePolicy(t, reborn[0], got)
}

func testPolicyHistoryTenantIsolation(t *testing.T, f *fixture) {
	tenant, other, agent := newID(), newID(), "agent-"+newID()
	f.saveVersions(tenant, agent, 1, 2)
	_, missing := f.PolicyHistory.ListPolicyVersions(f.ctx, other, "agent-"+newID(), ports.PageRequest{})
	_, err := f.PolicyHistory.ListPolicyVersions(f.ctx, other, agent, ports.PageRequest{})
	requireSameAsMissing(t, err, missing, "ListPolicyVersions")
	_, missing = f.PolicyHistory.GetPolicyVersion(f.ctx, other, "agent-"+newID(), 1)
	_, err = f.PolicyHistory.GetPolicyVersion(f.ctx, other, agent, 1)
	requireSameAsMissing(t, err, missing, "GetPolicyVersion")
}
