package alignment

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/adapters/memory"
	"focal/application/labelled"
	"focal/domain"
	"focal/ports"
)

// benchModel streams a fixed reply with no latency and records nothing.
type benchModel struct{ deltas []string }

func (m benchModel) StreamChat(_ context.Context, _ ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	for _, d := range m.deltas {
		if err := onDelta(d); err != nil {
			return ports.ChatResult{}, err
		}
	}
	return ports.ChatResult{Text: strings.Join(m.deltas, ""), Model: "bench", Usage: domain.TokenUsage{Prompt: 500, Completion: 60}}, nil
}

// benchReply is about forty words in ten deltas.
var benchReply = []string{
	"Thanks for reaching out about your order. ", "I have checked the details ", "and everything looks fine on our side. ",
	"Your parcel left the warehouse yesterday ", "and should arrive within three working days. ", "You will get a tracking link ",
	"by email shortly. ", "If anything looks wrong, ", "just reply here ", "and I will help you right away.",
}

// benchPhrasings are Banking77's labelled phrasings, train and test.
func benchPhrasings(b testing.TB) (train, test []labelled.Labelled) {
	read := func(name string) []labelled.Labelled {
		raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "banking77", name))
		if err != nil {
			b.Fatal(err)
		}
		rows, err := labelled.Read(name, raw)
		if err != nil {
			b.Fatal(err)
		}
		return rows
	}
	return read("train.csv"), read("test.csv")
}

// benchPolicy is n rules: real and recombined banking phrasings (see
// labelled.ScaleBundle), three global hard rules among them, and a
// two-step scenario. Beyond 77 rules several rules share an intent and
// split its score, and recombined phrasings are noisy, so the threshold is
// low enough for messages to match some: the benchmark measures the cost
// of a turn that matches rules, as most do, not whether they are the right
// ones (make eval measures that).
func benchPolicy(n int, train []labelled.Labelled) *domain.Policy {
	p := labelled.ScaleBundle(testAgent, train, n-3, 1)
	p.Agent.ID, p.Agent.TenantID, p.Agent.Version = fmt.Sprintf("bench-%d", n), testTenant, 1
	p.Agent.Settings.MatchThreshold = 0.01
	for i, ph := range []string{"guaranteed refund", "legal advice", "medical diagnosis"} {
		r := hardRule(fmt.Sprintf("hard%d", i), "never "+ph, forbid(ph))
		r.Examples = []string{"can you promise me a " + ph, "I want a " + ph + " from you"}
		p.Rules = append(p.Rules, r)
	}
	p.Scenarios = []domain.Scenario{{ID: "flow", EntryCondition: "my new card has not arrived", EntryStepID: "s0", Enabled: true,
		EntryExamples: []string{"I ordered a card a week ago and it still has not come", "where is the card you sent me"},
		Steps: []domain.Step{
			{ID: "s0", Instructions: "Ask when the card was ordered.", Transitions: []domain.Transition{{To: "s1",
				Condition: "the courier left it with a neighbour", Examples: []string{"my neighbour had it all along", "it was at the concierge"}}}},
			{ID: "s1", Terminal: true},
		}}}
	return p
}

func BenchmarkRunTurn(b *testing.B) {
	train, test := benchPhrasings(b)
	for _, n := range []int{150, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			p := benchPolicy(n, train)
			if errs := p.Validate(); len(errs) > 0 {
				b.Fatal(errs)
			}
			store := memory.New(clock.System{})
			eng, err := New(Deps{Model: benchModel{deltas: benchReply}, History: store, Clock: clock.System{}})
			if err != nil {
				b.Fatal(err)
			}
			session := benchSession(b, store)
			sink := func(string) error { return nil }
			turn := func(i int) *ports.TurnOutcome {
				in := ports.TurnInput{Policy: p, Session: session, TurnNumber: session.TurnCount + 1,
					Message: test[(i*37)%len(test)].Text, RequestID: "bench"}
				out, err := eng.RunTurn(context.Background(), in, sink)
				if err != nil {
					b.Fatal(err)
				}
				return out
			}
			matched := 0
			for i := range 20 { // compile outside the timer
				matched += len(turn(i).Explanation.Matched)
			}
			if matched == 0 {
				b.Fatal("the benchmark messages should match some rules")
			}
			var matching float64
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				for _, s := range turn(i).Timings {
					if s.Step == "matching" {
						matching += s.DurationMS * 1000
					}
				}
				i++
			}
			b.ReportMetric(matching/float64(i), "matching-µs/op")
		})
	}
}

// benchSession stores a session with twelve committed turns of history.
func benchSession(b testing.TB, store *memory.Store) *domain.Session {
	ctx := context.Background()
	key := domain.ChannelKey{TenantID: testTenant, AgentID: "bench", Channel: "web", UserChannelID: "u"}
	for i := 1; i <= 12; i++ {
		req := ports.LockRequest{TenantID: testTenant, Candidate: domain.NewSession("bench-session", key, time.Now()),
			Wait: time.Second, TTL: time.Minute}
		l, err := store.LockSession(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		s := l.Session()
		after := s.Clone()
		after.AdvanceTurn(i, time.Now())
		turn := &domain.Turn{ID: fmt.Sprintf("bt-%d", i), TenantID: testTenant, AgentID: "bench", SessionID: s.ID, TurnNumber: i,
			Message: "earlier question number " + fmt.Sprint(i), Response: strings.Join(benchReply, ""),
			Status: domain.TurnCompleted, SessionAfter: after}
		if err := store.CommitTurn(ctx, l.Token(), turn); err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
	s, err := store.GetSession(ctx, testTenant, "bench-session")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchTurnInput compiles a policy of n rules from train and returns it
// with a first turn's input in a new session.
func benchTurnInput(b *testing.B, n int, train []labelled.Labelled) (*domain.CompiledPolicy, ports.TurnInput) {
	b.Helper()
	p := benchPolicy(n, train)
	cp, err := domain.CompilePolicy(p)
	if err != nil {
		b.Fatal(err)
	}
	session := domain.NewSession("bench-session", domain.ChannelKey{TenantID: testTenant, AgentID: "bench", Channel: "web", UserChannelID: "u"}, time.Now())
	return cp, ports.TurnInput{Policy: p, Session: session, TurnNumber: 1}
}

// BenchmarkCandidates is the rule candidate path of a turn alone: the
// message scored against every rule, the rules in scope kept, the best
// selected and the matched ones explained. Its cost should follow the
// rules that scored, not the size of the policy.
func BenchmarkCandidates(b *testing.B) {
	train, test := benchPhrasings(b)
	for _, n := range []int{150, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			cp, in := benchTurnInput(b, n, train)
			matched, recorded := 0, 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in.Message = test[(i*37)%len(test)].Text
				m := matching{message: cp.ScoreMessage(in.Message, nil)}
				cands := candidates(cp, in, &navigation{}, &m)
				sel := explainMatches(selectByScore(&cands), m.message, cp)
				matched, recorded = matched+len(sel.matched), max(recorded, len(sel.ranked))
				i++
			}
			if matched == 0 || recorded > maxRecordedCandidates {
				b.Fatalf("matched %d rules in %d turns, recorded up to %d candidates", matched, i, recorded)
			}
		})
	}
}

// BenchmarkSelection is a turn's rule selection alone, words only as most
// turns are: the candidates kept from the message's scores (scored before
// the timer), ranked and the kept ones copied for the record.
// selectMeasured is callgrind's --toggle-collect target.
func BenchmarkSelection(b *testing.B) {
	train, test := benchPhrasings(b)
	for _, n := range []int{150, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			cp, in := benchTurnInput(b, n, train)
			scores := make([]matching, 64)
			for i := range scores {
				scores[i] = matching{message: cp.ScoreMessageUnexplained(test[(i*37)%len(test)].Text)}
			}
			matched := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				matched += len(selectMeasured(cp, in, &scores[i%len(scores)]).matched)
				i++
			}
			if matched == 0 {
				b.Fatalf("matched no rule in %d turns", i)
			}
		})
	}
}

//go:noinline
func selectMeasured(cp *domain.CompiledPolicy, in ports.TurnInput, m *matching) selection {
	cands := candidates(cp, in, &navigation{}, m)
	sel := selectByScore(&cands)
	cands.release()
	return sel
}
