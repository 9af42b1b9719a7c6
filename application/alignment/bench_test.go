package alignment

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"focal/adapters/clock"
	"focal/adapters/memory"
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

// benchVocabulary makes n distinct pronounceable words.
func benchVocabulary(n int) []string {
	cons, vows := "bcdfgklmnprstvz", "aeiou"
	words := make([]string, 0, n)
	for i := 0; len(words) < n; i++ {
		var b strings.Builder
		for k, x := 0, i; k < 3; k++ {
			b.WriteByte(cons[x%len(cons)])
			x /= len(cons)
			b.WriteByte(vows[x%len(vows)])
			x /= len(vows)
		}
		words = append(words, b.String())
	}
	return words
}

// benchPolicy generates n rules with short conditions, a four-step
// scenario and three global hard rules.
func benchPolicy(n int, vocab []string, rng *rand.Rand) *domain.Policy {
	phrase := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	p := testPolicy()
	p.Agent.ID = fmt.Sprintf("bench-%d", n)
	for i := range n {
		r := globalRule(fmt.Sprintf("r%d", i), phrase(3+rng.IntN(4)), "Do the thing number "+fmt.Sprint(i)+".")
		r.Priority = rng.IntN(21) - 10
		p.Rules = append(p.Rules, r)
	}
	for i, ph := range []string{"guaranteed refund", "legal advice", "medical diagnosis"} {
		p.Rules = append(p.Rules, hardRule(fmt.Sprintf("hard%d", i), phrase(3), forbid(ph)))
	}
	steps := []domain.Step{{ID: "s0"}, {ID: "s1"}, {ID: "s2"}, {ID: "s3", Terminal: true}}
	for i := range 3 {
		steps[i].Instructions = "Ask for detail " + fmt.Sprint(i) + "."
		steps[i].Transitions = []domain.Transition{{To: steps[i+1].ID, Condition: phrase(3)}}
	}
	p.Scenarios = []domain.Scenario{{ID: "flow", EntryCondition: phrase(3), EntryStepID: "s0", Steps: steps, Enabled: true}}
	return p
}

func BenchmarkRunTurn(b *testing.B) {
	vocab := benchVocabulary(3000)
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			p := benchPolicy(n, vocab, rng)
			if errs := p.Validate(); len(errs) > 0 {
				b.Fatal(errs)
			}
			store := memory.New(clock.System{})
			eng, err := New(Deps{Model: benchModel{deltas: benchReply}, History: store, Clock: clock.System{}})
			if err != nil {
				b.Fatal(err)
			}
			session := benchSession(b, store)
			// The message shares words with a few rules and is otherwise chatter.
			msg := "hi there " + strings.Join(strings.Fields(p.Rules[7].Condition), " ") + " and also " +
				strings.Fields(p.Rules[n/2].Condition)[0] + " " + vocab[11] + " thanks"
			in := ports.TurnInput{Policy: p, Session: session, TurnNumber: session.TurnCount + 1, Message: msg, RequestID: "bench"}
			sink := func(string) error { return nil }
			out, err := eng.RunTurn(context.Background(), in, sink) // compile outside the timer
			if err != nil {
				b.Fatal(err)
			}
			if len(out.Explanation.Matched) == 0 {
				b.Fatal("the benchmark message should match some rules")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := eng.RunTurn(context.Background(), in, sink); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSession stores a session with twelve committed turns of history.
func benchSession(b *testing.B, store *memory.Store) *domain.Session {
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
