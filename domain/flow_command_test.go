package domain

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// FlowCommand answers without the patterns only for messages they do not
// match: on messages made of the patterns' own words, in any case, with
// any spacing and punctuation, and with characters their case folding
// takes for ASCII letters, it says what the patterns say.
func TestFlowCommandAnswersAsItsPatterns(t *testing.T) {
	tokens := []string{"please", "Please", "cancel", "CANCEL", "Stop", "stop", "never", "mind", "nevermind", "NeverMind",
		"forget", "it", "quit", "abort", "this", "that", ".", "!", "?", "!!", "i", "I", "want", "to", "talk", "speak",
		"with", "a", "an", "human", "Agent", "person", "real", "operator", "representative", "i'd", "like", "need",
		"can", "could", "let", "me", "chat", "stops", "humans", "x", "ſtop", "\u212aancel", "1", "where", "is", "my", "order"}
	seps := []string{"", " ", "  ", "\t", "\n"}
	r := rand.New(rand.NewPCG(1, 2))
	all := []string{CommandCancel, CommandHuman}
	byPatterns := func(msg string) string {
		for _, c := range Commands {
			if commandPatterns[c].MatchString(msg) {
				return c
			}
		}
		return ""
	}
	matched := 0
	for range 200_000 {
		var b strings.Builder
		b.WriteString(seps[r.IntN(len(seps))])
		for k := r.IntN(5) + 1; k > 0; k-- {
			b.WriteString(tokens[r.IntN(len(tokens))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		msg := b.String()
		want := byPatterns(msg)
		if got := FlowCommand(msg, all); got != want {
			t.Fatalf("FlowCommand(%q) = %q, the patterns say %q", msg, got, want)
		}
		if want != "" {
			matched++
		}
	}
	if matched < 100 {
		t.Fatalf("only %d generated messages were commands: the test checks too little", matched)
	}
}
