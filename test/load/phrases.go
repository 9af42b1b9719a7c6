package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// defaultPhrases is Banking77's training split, shipped with the bench.
const defaultPhrases = "test/load/testdata/banking77/train.csv"

// phrases are real customer phrasings by intent: the first half of each
// intent's phrasings feeds rule conditions, the second half the users'
// messages, so the two share vocabulary without being the same sentences.
type phrases struct {
	intents []string            // in file order
	forRule map[string][]string // intent → phrasings for conditions
	forUser map[string][]string // intent → phrasings for messages
}

func loadPhrases(path string) (*phrases, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench phrasings: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("bench phrasings %s: %w", path, err)
	}
	byIntent := map[string][]string{}
	p := &phrases{forRule: map[string][]string{}, forUser: map[string][]string{}}
	for _, row := range rows[1:] { // header: text,category
		text, intent := strings.Join(strings.Fields(row[0]), " "), row[1]
		if _, seen := byIntent[intent]; !seen {
			p.intents = append(p.intents, intent)
		}
		byIntent[intent] = append(byIntent[intent], text)
	}
	for intent, texts := range byIntent {
		half := len(texts) / 2
		p.forRule[intent], p.forUser[intent] = texts[:half], texts[half:]
	}
	if len(p.intents) < 3 {
		return nil, fmt.Errorf("bench phrasings %s: %d intents, want Banking77's 77", path, len(p.intents))
	}
	return p, nil
}

// recombined makes a new phrasing of intent: the first half of one real
// phrasing followed by the second half of another, as people reword.
func (p *phrases) recombined(rng *rand.Rand, intent string) string {
	texts := p.forRule[intent]
	a := strings.Fields(texts[rng.IntN(len(texts))])
	b := strings.Fields(texts[rng.IntN(len(texts))])
	return strings.Join(append(a[:(len(a)+1)/2:(len(a)+1)/2], b[len(b)/2:]...), " ")
}

// scenarioIntent's phrasings start the bench agent's scenario.
const scenarioIntent = "card_arrival"

// scenarioDone moves the scenario to its end: worded apart from every
// Banking77 intent, so that returning users stay in the scenario.
const scenarioDone = "the courier left the parcel with the concierge downstairs"

// messages returns the users' messages: every phrasing meant for users.
func (p *phrases) messages() []string {
	var out []string
	for _, intent := range p.intents {
		out = append(out, p.forUser[intent]...)
	}
	return out
}

// scenarioEntries is how many phrasings the scenario's entry condition
// lists.
const scenarioEntries = 6

// listedOpenings are the phrasings the scenario's entry condition lists.
func (p *phrases) listedOpenings() []string {
	return p.forRule[scenarioIntent][:scenarioEntries]
}

// opening is a message meant to start the bench agent's scenario: one of
// the phrasings its entry condition lists. Runs of many returning users
// draw theirs from bench.openings instead, which checks that they do.
func (p *phrases) opening(i int) string {
	return p.listedOpenings()[i%scenarioEntries]
}

// jsonString is s as it appears inside a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
