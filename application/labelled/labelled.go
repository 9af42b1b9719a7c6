// Package labelled builds agents from labelled phrasings (an intent
// dataset such as Banking77): one rule per label, or large policies of
// recombined phrasings, for evaluations and benchmarks.
package labelled

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"focal/domain"
)

// Labelled is one text and its label, as an intent dataset gives it.
type Labelled struct {
	Text, Label string
}

// Read reads a CSV of labelled texts (columns text, and category
// or label).
func Read(name string, data []byte) ([]Labelled, error) {
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: want a header and at least one row", name)
	}
	text := slices.Index(rows[0], "text")
	label := slices.IndexFunc(rows[0], func(h string) bool { return h == "category" || h == "label" })
	if text < 0 || label < 0 {
		return nil, fmt.Errorf("%s: the header must name a text and a category (or label) column", name)
	}
	out := make([]Labelled, 0, len(rows)-1)
	for _, r := range rows[1:] {
		out = append(out, Labelled{Text: strings.Join(strings.Fields(r[text]), " "), Label: r[label]})
	}
	return out, nil
}

// Write writes labelled texts as Read reads them.
func Write(rows []Labelled) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"text", "category"})
	for _, r := range rows {
		_ = w.Write([]string{r.Text, r.Label})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// Labels are the distinct labels of rows, in order of first appearance.
func Labels(rows []Labelled) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Label] {
			seen[r.Label] = true
			out = append(out, r.Label)
		}
	}
	return out
}

// RuleID is the rule id Bundle gives a label: the label with every
// character an id may not hold replaced by '_'.
func RuleID(label string) string {
	id := []rune(label)
	for i, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("_.:-", r)) {
			id[i] = '_'
		}
	}
	return strings.TrimRight(string(id), "_")
}

// Bundle is an agent with one global rule per label (in order of
// first appearance), whose examples are the label's first shots texts (all
// of them when shots is 0 or less), leaving out the labels in without. The
// rule's id is RuleID(label) and its condition the label in words.
func Bundle(agentID, name string, rows []Labelled, shots int, without map[string]bool) *domain.Policy {
	p := evalAgent(agentID, name)
	byLabel := map[string][]string{}
	for _, r := range rows {
		if shots <= 0 || len(byLabel[r.Label]) < shots {
			byLabel[r.Label] = append(byLabel[r.Label], r.Text)
		}
	}
	for _, l := range Labels(rows) {
		if without[l] {
			continue
		}
		words := strings.ReplaceAll(RuleID(l), "_", " ")
		p.Rules = append(p.Rules, domain.Rule{ID: RuleID(l), Condition: words, Examples: byLabel[l], Action: "Help with " + words + ".",
			Scope: domain.ScopeGlobal, Enabled: true})
	}
	return p
}

// ScaleBundle is an agent with n rules spread over the labels of rows in
// turn, each with one real text of its label and three recombined ones
// (the first half of one text and the second half of another, as people
// reword), so that large policies keep the vocabulary of real messages
// without repeating one rule thousands of times. seed fixes the
// recombinations.
func ScaleBundle(agentID string, rows []Labelled, n int, seed uint64) *domain.Policy {
	p := evalAgent(agentID, fmt.Sprintf("%d rules from labelled phrasings", n))
	byLabel := map[string][]string{}
	for _, r := range rows {
		byLabel[r.Label] = append(byLabel[r.Label], r.Text)
	}
	labels := Labels(rows)
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	recombined := func(texts []string) string {
		a := strings.Fields(texts[rng.IntN(len(texts))])
		b := strings.Fields(texts[rng.IntN(len(texts))])
		return strings.Join(append(a[:(len(a)+1)/2:(len(a)+1)/2], b[len(b)/2:]...), " ")
	}
	for i := range n {
		l := labels[i%len(labels)]
		texts := byLabel[l]
		examples := []string{texts[(i/len(labels))%len(texts)]}
		for range 3 {
			examples = append(examples, recombined(texts))
		}
		words := strings.ReplaceAll(RuleID(l), "_", " ")
		p.Rules = append(p.Rules, domain.Rule{ID: fmt.Sprintf("r%05d_%s", i, RuleID(l)), Condition: words, Examples: examples,
			Action: "Help with " + words + ".", Scope: domain.ScopeGlobal, Enabled: true, Priority: rng.IntN(21) - 10})
	}
	return p
}

func evalAgent(agentID, name string) *domain.Policy {
	return &domain.Policy{
		Agent: domain.Agent{ID: agentID, Name: name, Enabled: true,
			SystemPrompt: "You are the assistant of an online bank."},
		Templates: []domain.Template{{ID: "fallback", Mode: domain.ModeFallback, Text: "Let me find someone who can help with that."}},
	}
}
