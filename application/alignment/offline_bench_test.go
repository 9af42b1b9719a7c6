package alignment

import (
	"context"
	"fmt"
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/adapters/llm"
	"focal/adapters/memory"
	"focal/application/labelled"
	"focal/domain"
	"focal/ports"
)

// BenchmarkOfflineTurn is a turn as the load run makes them: the offline
// model (replies from templates without placeholders: a suggested one per
// rule, else the agent's fallback), words only, explanations left to the
// record's reader, two global hard rules enforced on every reply. A
// returning user's session, 100 rules. runMeasured is callgrind's
// --toggle-collect target: the policy's compile is left out.
func BenchmarkOfflineTurn(b *testing.B) {
	eng, in, sink, test := offlineBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Message = test[(i*37)%len(test)].Text
		runMeasured(b, eng, in, sink)
	}
}

// BenchmarkOfflineTurnInSpace is BenchmarkOfflineTurn as the chat use case
// runs it for a returning user in a flow, as the load run's are: the
// session at the flow's first step, the run in a TurnSpace lent through
// its context, told when the run began, and reclaimed once the outcome is
// read.
func BenchmarkOfflineTurnInSpace(b *testing.B) {
	eng, in, sink, test := offlineBench(b)
	in.Session = in.Session.Clone()
	in.Session.EnterStep("flow", "s0", in.Session.TurnCount)
	space := new(TurnSpace)
	ctx := lending{Context: context.Background(), space: space}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Message = test[(i*37)%len(test)].Text
		space.BeganAt(time.Now())
		if _, err := eng.RunTurn(ctx, in, sink); err != nil {
			b.Fatal(err)
		}
		space.Reclaim()
	}
}

// offlineBench is BenchmarkOfflineTurn's engine and a returning user's
// turn for it, its policy compiled, and the messages to send.
func offlineBench(b *testing.B) (*Engine, ports.TurnInput, ports.DeltaSink, []labelled.Labelled) {
	train, test := benchPhrasings(b)
	p := benchPolicy(100, train)
	for i := range p.Rules {
		if !p.Rules[i].Hard {
			id := fmt.Sprintf("tpl_%d", i%20)
			p.Rules[i].TemplateIDs = []string{id}
			if i < 20 {
				p.Templates = append(p.Templates, tpl(id, domain.ModeSuggest, fmt.Sprintf("I can help with that (%d). Let me look into it for you.", i)))
			}
		}
	}
	p.Agent.Settings.MatchThreshold = 0.3
	if errs := p.Validate(); len(errs) > 0 {
		b.Fatal(errs)
	}
	store := memory.New(clock.System{})
	eng, err := New(Deps{Model: llm.Offline{}, History: store, Clock: clock.System{}, DeferExplanations: true})
	if err != nil {
		b.Fatal(err)
	}
	session := benchSession(b, store)
	sink := func(string) error { return nil }
	in := ports.TurnInput{Policy: p, Session: session, TurnNumber: session.TurnCount + 1, RequestID: "bench"}
	matched := 0
	for i := range 20 { // compile outside the timer
		in.Message = test[(i*37)%len(test)].Text
		out, err := eng.RunTurn(context.Background(), in, sink)
		if err != nil {
			b.Fatal(err)
		}
		matched += len(out.Explanation.Matched)
	}
	if matched == 0 {
		b.Fatal("the benchmark messages should match some rules")
	}
	return eng, in, sink, test
}

//go:noinline
func runMeasured(b *testing.B, eng *Engine, in ports.TurnInput, sink ports.DeltaSink) *ports.TurnOutcome {
	out, err := eng.RunTurn(context.Background(), in, sink)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
