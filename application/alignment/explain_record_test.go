package alignment

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/application/labelled"
	"focal/domain"
	"focal/ports"
)

// versionHistory is a ports.PolicyHistory over a few versions of the test
// agent; err, when set, is every read's.
type versionHistory struct {
	versions map[int64]*domain.Policy
	err      error
	reads    int
}

func (h *versionHistory) ListPolicyVersions(context.Context, string, string, ports.PageRequest) (ports.Page[domain.Agent], error) {
	return ports.Page[domain.Agent]{}, errors.New("not used")
}

func (h *versionHistory) GetPolicyVersion(_ context.Context, tenantID, agentID string, version int64) (*domain.Policy, error) {
	h.reads++
	if h.err != nil {
		return nil, h.err
	}
	if p := h.versions[version]; p != nil && tenantID == testTenant && agentID == testAgent {
		return p, nil
	}
	return nil, domain.Errorf(domain.CodeNotFound, "no version %d", version)
}

// banking77Rows reads the Banking77 set named (train or test).
func banking77Rows(t testing.TB, name string) []labelled.Labelled {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "banking77", name+".csv")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	rows, err := labelled.Read(path, data)
	require.NoError(t, err)
	return rows
}

// bankingVersion is the Banking77 agent with shots examples per intent, as
// version v of the test agent, with orderPolicy's scenario and a rule
// whose examples are its entry's (one condition of the matcher for both:
// explaining the entry started explains the rule).
func bankingVersion(rows []labelled.Labelled, shots int, v int64) *domain.Policy {
	p := labelled.Bundle(testAgent, "Banking77", rows, shots, nil)
	p.Agent.TenantID, p.Agent.Version, p.Agent.Name = testTenant, v, "Ada"
	order := orderPolicy()
	p.Scenarios = order.Scenarios
	sc := &p.Scenarios[0]
	p.Rules = append(p.Rules, globalRule("order_help", sc.EntryCondition, "Help with the order.", sc.EntryExamples...))
	return p
}

// deferredScript is what the customer says to each version: Banking77
// messages, with a scenario started, moved along by short replies (read
// with what the agent last asked) and left, in between.
func deferredScript(test []labelled.Labelled, stride int) []string {
	// The first starts the scenario (on the first version) on an entry
	// that scores below three rules.
	mixed := "why was my top up declined and my transfer failed and my card is not working, can I buy this online"
	flow := []string{"I want to place an order", "yes", "ok", "checkout and pay", "the second one", "buy it now",
		"I'd like to order a jacket", "how does checkout work", "back to the products", "how does checkout work", "change", "stop ordering", mixed, "hello", "pay", "stop ordering"}
	out := []string{mixed}
	for i := 0; i*stride < len(test); i++ {
		out = append(out, test[i*stride].Text)
		if i%5 == 4 {
			out = append(out, flow[(i/5)%len(flow)], flow[(i/5+1)%len(flow)])
		}
	}
	return out
}

// explanationJSON is x as a turn record's reader sees it.
func explanationJSON(t *testing.T, x domain.Explanation) string {
	t.Helper()
	b, err := json.Marshal(x)
	require.NoError(t, err)
	return string(b)
}

// readBack is turn as a store gives it back: through its JSON.
func readBack(t *testing.T, turn *domain.Turn) *domain.Turn {
	t.Helper()
	b, err := json.Marshal(turn)
	require.NoError(t, err)
	var out domain.Turn
	require.NoError(t, json.Unmarshal(b, &out))
	return &out
}

// A deferred record whose version can no longer be read (its agent
// deleted) is given without what it deferred; a store that fails fails
// the read; a hybrid turn defers nothing.
func TestDeferredExplanationWithoutItsVersion(t *testing.T) {
	p := orderPolicy()
	lazy := newHarness(t, p, newFakeModel(say("Hi.")), func(d *Deps) { d.DeferExplanations = true })
	got := lazy.run("I want to place an order")
	require.True(t, got.Explanation.Retrieval.Deferred)
	history := &versionHistory{versions: map[int64]*domain.Policy{}}
	fresh, err := New(Deps{Model: newFakeModel(), History: memory.New(clock.System{}), Clock: clock.System{}})
	require.NoError(t, err)
	reader, err := NewRecordExplainer(fresh, history)
	require.NoError(t, err)
	rec := &domain.Turn{TenantID: testTenant, AgentID: testAgent, AgentVersion: 1, Message: "I want to place an order", Explanation: got.Explanation}
	require.NoError(t, reader.CompleteTurn(context.Background(), rec))
	require.False(t, rec.Explanation.Retrieval.Deferred)
	require.NotContains(t, explanationJSON(t, rec.Explanation), "nearest_example")

	history.err = domain.Errorf(domain.CodeStoreUnavailable, "down")
	rec.Explanation.Retrieval.Deferred = true
	require.True(t, domain.IsCode(reader.CompleteTurn(context.Background(), rec), domain.CodeStoreUnavailable))

	emb := newFakeEmbedder(4)
	hybrid := newHarness(t, p, newFakeModel(say("Hi.")), withEmbedder(emb), func(d *Deps) { d.DeferExplanations = true })
	h := hybrid.run("I want to place an order")
	require.Equal(t, domain.RetrievalHybrid, h.Explanation.Retrieval.Mode)
	require.False(t, h.Explanation.Retrieval.Deferred)
}

// BenchmarkCompleteTurn is what a read of a deferred record costs: a
// Banking77 agent's turn record (77 rules, 10 examples each) completed,
// its version compiled.
func BenchmarkCompleteTurn(b *testing.B) {
	p := bankingVersion(banking77Rows(b, "train"), 10, 1)
	h := newHarness(b, p, newFakeModel(say("Sure.")), func(d *Deps) { d.DeferExplanations = true })
	msg := "I still have not received my new card, I ordered over a week ago."
	out, err := h.try(msg)
	require.NoError(b, err)
	raw, err := json.Marshal(&domain.Turn{TenantID: testTenant, AgentID: testAgent, AgentVersion: 1, Message: msg, Explanation: out.Explanation})
	require.NoError(b, err)
	reader, err := NewRecordExplainer(h.engine, &versionHistory{versions: map[int64]*domain.Policy{1: p}})
	require.NoError(b, err)
	for b.Loop() {
		var rec domain.Turn
		require.NoError(b, json.Unmarshal(raw, &rec))
		require.NoError(b, reader.CompleteTurn(context.Background(), &rec))
	}
}
