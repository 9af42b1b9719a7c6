package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// runBundle writes an agent bundle with n rules for benchmarks: short
// conditions drawn from a vocabulary of a few thousand made-up words, a
// handful of rules the benchmark message really matches, a three-step
// scenario and global hard rules, so retrieval, selection and enforcement
// all do realistic work.
func runBundle(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ExitOnError)
	n := fs.Int("rules", 100, "number of rules")
	out := fs.String("out", "", "file to write (JSON; default stdout)")
	agent := fs.String("agent", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "agent id")
	tenant := fs.String("tenant", "550e8400-e29b-41d4-a716-446655440000", "tenant id")
	_ = fs.Parse(args)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 3000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%x%c", i, 'a'+rune(i%26))
	}
	words := func(k int) string {
		parts := make([]string, k)
		for i := range parts {
			parts[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(parts, " ")
	}
	type m = map[string]any
	rules := []m{
		{"id": "store_hours", "condition": "store opening hours; when are you open; what time do you open", "action": "Give the opening hours.", "template_ids": []string{"hours"}, "priority": 10},
		{"id": "sunday", "condition": "sunday opening", "action": "Mention Sunday hours.", "priority": 5},
		{"id": "no_promises", "condition": "guarantee; promise", "action": "Never promise refunds.", "hard": true,
			"constraints": []m{{"kind": "forbid_phrase", "value": "guaranteed refund"}, {"kind": "forbid_pattern", "value": `\b\d{16}\b`}}},
		{"id": "no_rudeness", "condition": "rude insult", "action": "Stay polite.", "hard": true,
			"constraints": []m{{"kind": "forbid_phrase", "value": "shut up"}}},
	}
	for i := len(rules); i < *n; i++ {
		rules = append(rules, m{"id": fmt.Sprintf("r%05d", i), "condition": words(3) + "; " + words(2), "action": "Do " + words(4) + ".",
			"priority": rng.IntN(21) - 10, "cooldown_turns": rng.IntN(2)})
	}
	bundle := m{
		"agent": m{"id": *agent, "tenant_id": *tenant, "name": fmt.Sprintf("bench agent (%d rules)", *n),
			"system_prompt": "You are a benchmark agent.", "settings": m{"match_threshold": 0.5}},
		"rules": rules[:*n],
		"scenarios": []m{{"id": "flow", "entry_condition": words(2), "entry_step_id": "a", "steps": []m{
			{"id": "a", "transitions": []m{{"to": "b", "condition": words(2)}}},
			{"id": "b", "transitions": []m{{"to": "c", "condition": words(2)}}},
			{"id": "c", "terminal": true}}}},
		"templates": []m{
			{"id": "hours", "mode": "exclusive", "text": "Our stores are open Monday to Saturday from 9am to 8pm, and Sunday from 10am to 6pm."},
			{"id": "fallback", "mode": "fallback", "text": "Let me find someone who can help with that."}},
		"tools": []m{},
	}
	data, err := json.MarshalIndent(bundle, "", " ")
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}
