package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
)

// runBundle writes the bench agent with n rules (see buildBundle).
func runBundle(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ExitOnError)
	n := fs.Int("rules", 100, "number of rules")
	out := fs.String("out", "", "file to write (JSON; default stdout)")
	path := fs.String("phrases", defaultPhrases, "Banking77-style CSV (text,category) to build conditions from")
	_ = fs.Parse(args)
	p, err := loadPhrases(*path)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(buildBundle(p, *n), "", " ")
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// buildBundle makes a banking agent with n rules whose conditions are real
// and recombined customer phrasings, spread over every intent, so the
// users' messages meet many of them; a suggested template per intent; two
// global hard rules; and a scenario that a card-delivery question starts
// and that returning users stay in. The scenario's intent has no rules of
// its own: a matcher that learns from examples cannot tell a scenario
// entry from rules made of the same phrasings, and neither could a person.
func buildBundle(p *phrases, n int) map[string]any { return buildBundleVariant(p, n, 0) }

// buildBundleVariant is buildBundle with the rules' conditions recombined
// from another seed: variant 0 is buildBundle's, the others the same agent
// with as many rules, none of whose compiled forms any cache holds.
func buildBundleVariant(p *phrases, n int, variant uint64) map[string]any {
	type m = map[string]any
	rng := rand.New(rand.NewPCG(7+variant, uint64(n)))
	var rules, templates []m
	ruleIntents := slices.DeleteFunc(slices.Clone(p.intents), func(s string) bool { return s == scenarioIntent })
	for i := range n - 2 {
		intent := ruleIntents[i%len(ruleIntents)]
		alts := []string{p.forRule[intent][(i/len(ruleIntents))%len(p.forRule[intent])]}
		for range 1 + rng.IntN(3) {
			alts = append(alts, p.recombined(rng, intent))
		}
		rule := m{"id": fmt.Sprintf("r%05d_%s", i, idOf(intent)), "condition": strings.Join(alts, "; "),
			"action":   "Help the customer with " + strings.ReplaceAll(intent, "_", " ") + ".",
			"priority": rng.IntN(21) - 10, "template_ids": []string{"tpl_" + idOf(intent)}}
		if i%7 == 3 {
			rule["cooldown_turns"] = 1
		}
		if i%11 == 5 {
			rule["scope"], rule["scope_id"] = "scenario", benchScenario
		}
		rules = append(rules, rule)
	}
	rules = append(rules,
		m{"id": "no_promises", "condition": "guarantee a refund; promise my money back", "action": "Never promise refunds.", "hard": true, "priority": 90,
			"constraints": []m{{"kind": "forbid_phrase", "value": "guaranteed refund"}, {"kind": "forbid_pattern", "value": `\b\d{16}\b`}}},
		m{"id": "no_rudeness", "condition": "you are useless; this is rubbish", "action": "Stay polite.", "hard": true,
			"constraints": []m{{"kind": "forbid_phrase", "value": "shut up"}}})
	for _, intent := range p.intents {
		templates = append(templates, m{"id": "tpl_" + idOf(intent), "mode": "suggest",
			"text": "I can help with " + strings.ReplaceAll(intent, "_", " ") + ". Let me look into it for you."})
	}
	templates = append(templates, m{"id": "fallback", "mode": "fallback", "text": "Let me find someone who can help with that."})
	entry := p.listedOpenings()
	examples := p.forRule[scenarioIntent][scenarioEntries:min(len(p.forRule[scenarioIntent]), 4*scenarioEntries)]
	return m{
		"agent": m{"id": benchAgent, "tenant_id": benchTenant, "name": fmt.Sprintf("bench bank agent (%d rules)", n),
			"system_prompt": "You are the assistant of a bank.", "settings": m{"history_turns": 10}},
		"rules": rules,
		"scenarios": []m{{"id": benchScenario, "name": "card delivery", "entry_condition": strings.Join(entry, "; "),
			"entry_examples": examples, "entry_step_id": "track",
			"steps": []m{
				{"id": "track", "instructions": "Find out when the card was ordered and where it was sent.",
					"transitions": []m{{"to": "delivered", "condition": scenarioDone}}},
				{"id": "delivered", "terminal": true, "instructions": "Confirm the card arrived."}}}},
		"templates": templates,
		"tools":     []m{},
	}
}

// benchScenario is the bench agent's scenario, which returning users are
// in.
const benchScenario = "card_delivery"

// idOf makes an intent name (some end in "?") into an id.
func idOf(intent string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, intent)
}
