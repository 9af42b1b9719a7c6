package application_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application"
	"focal/application/alignment"
	"focal/domain"
	"focal/ports"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replayBench is the demo agent with 1,000 recorded turns (100 sessions of
// 10) on the memory store, and a second version whose store_hours rule is
// disabled.
type replayBench struct {
	replay    *application.Replay
	candidate int64
	store     *memory.Store
}

// benchMessages cycle through every part of the demo agent.
var benchMessages = []string{
	"Hi there! I want to return my jacket", "My order number is AC-123456", "What time do you open on Sunday?",
	"It was the wrong size", "When will I get my refund?", "How long does shipping take?", "Can I return shoes?",
	"What time do you close?", "Do you ship abroad?", "Thanks, bye",
}

func newReplayBench(tb testing.TB, sessions int) *replayBench {
	tb.Helper()
	return newReplayBenchOf(tb, sessions, benchMessages)
}

// newReplayBenchOf is newReplayBench with each session's messages.
func newReplayBenchOf(tb testing.TB, sessions int, messages []string) *replayBench {
	tb.Helper()
	ctx := context.Background()
	clk := clock.System{}
	store := memory.New(clk)
	data, err := os.ReadFile(filepath.Join("..", "examples", "demo-agent.yaml"))
	check(tb, err)
	cache, err := application.NewPolicyCache(store, clk, time.Second)
	check(tb, err)
	admin, err := application.NewPolicyAdmin(store, cache, clk)
	check(tb, err)
	imported, err := admin.ImportBundle(ctx, application.BundleImport{TenantID: tenant, Bundle: data})
	check(tb, err)
	v1 := imported.Policy
	engine, err := alignment.New(alignment.Deps{Model: llm.Offline{}, History: store, Clock: clk})
	check(tb, err)
	chat, err := application.NewProcessMessage(application.ChatConfig{LockWait: time.Second, LeaseTTL: 20 * time.Second,
		TurnTimeout: 10 * time.Second, CommitTimeout: time.Second}, cache, store, store, store, engine, clk)
	check(tb, err)
	for s := range sessions {
		for _, msg := range messages {
			_, err := chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: v1.Agent.ID, Channel: "web",
				UserChannelID: fmt.Sprintf("user-%d", s), Message: msg})
			check(tb, err)
		}
	}
	v2, err := store.GetPolicy(ctx, tenant, v1.Agent.ID)
	check(tb, err)
	for i := range v2.Rules {
		if v2.Rules[i].ID == "store_hours" {
			v2.Rules[i].Enabled = false
		}
	}
	v2.Agent.Version++
	check(tb, store.SavePolicy(ctx, tenant, v2))
	replay, err := application.NewReplay(store, store, store, store,
		func(history ports.TurnStore, tools ports.ToolInvoker, _ bool) (ports.Engine, error) {
			return alignment.New(alignment.Deps{Model: llm.Offline{}, History: history, Clock: clk, Tools: tools})
		})
	check(tb, err)
	return &replayBench{replay: replay, candidate: v2.Agent.Version, store: store}
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func (rb *replayBench) run(tb testing.TB) *application.ReplayReport {
	tb.Helper()
	r, err := rb.replay.Run(context.Background(), application.ReplayCommand{TenantID: tenant,
		AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Version: rb.candidate, LastSessions: application.MaxReplaySessions})
	check(tb, err)
	return r
}

// BenchmarkReplay replays 1,000 recorded turns offline on the memory store
// against a version with one rule changed; one op is the whole replay.
func BenchmarkReplay(b *testing.B) {
	rb := newReplayBench(b, 100)
	b.ResetTimer()
	for b.Loop() {
		if r := rb.run(b); r.Summary.Turns != 1000 {
			b.Fatalf("replayed %d turns, not 1000", r.Summary.Turns)
		}
	}
	b.ReportMetric(1000, "turns/op")
}

// The benchmark's replay finds the changed rule's turns and nothing else:
// in every session the two store-hours questions lose their rule.
func TestReplayBenchFindsTheChangedRule(t *testing.T) {
	r := newReplayBench(t, 3).run(t)
	if r.Summary.Turns != 30 || r.Summary.Sessions != 3 {
		t.Fatalf("replayed %d turns of %d sessions", r.Summary.Turns, r.Summary.Sessions)
	}
	for _, s := range r.Sessions {
		for _, turn := range s.Turns {
			was := len(turn.Before.MatchedRules) > 0 && turn.Before.MatchedRules[0] == "store_hours"
			if changed := len(turn.Changed) > 0; changed != was {
				t.Errorf("turn %d %q: changed %v, but store_hours matched: %v", turn.TurnNumber, turn.Message, turn.Changed, was)
			}
		}
	}
	if r.Summary.ByKind[application.ChangeRules] != 6 {
		t.Errorf("by kind: %v, want rules changed in 6 turns", r.Summary.ByKind)
	}
}

// An inline bundle is parsed only when no other bundle is, imported or
// replayed (one at the size limit builds a few hundred MB): a replay that
// cannot get the slot before its context ends answers TIMEOUT, and parses
// once the slot is free.
func TestReplayParsesItsBundleAlone(t *testing.T) {
	rb := newReplayBench(t, 1)
	bundle, err := os.ReadFile(filepath.Join("..", "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	cmd := application.ReplayCommand{TenantID: tenant, AgentID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Bundle: bundle, LastSessions: 1}

	release := application.HoldBundleParsing()
	gaveUp := make(chan struct{})
	close(gaveUp)
	_, err = rb.replay.Run(doneOnly{Context: context.Background(), done: gaveUp}, cmd)
	release()
	require.Error(t, err)
	assert.True(t, domain.IsCode(err, domain.CodeTimeout), "%v", err)

	r, err := rb.replay.Run(context.Background(), cmd)
	require.NoError(t, err)
	assert.Equal(t, 10, r.Summary.Turns)
}

// doneOnly is a context whose Done is done while its Err stays nil: what
// waits on Done gives up, what checks Err (the store) goes on.
type doneOnly struct {
	context.Context
	done chan struct{}
}

func (c doneOnly) Done() <-chan struct{} { return c.done }
