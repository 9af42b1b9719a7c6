// Package evaluation measures how well an agent decides: it sends labelled
// messages through the engine, as a user would, and scores what the turn
// records say was decided (the rules matched, the scenario step) against
// the labels.
package evaluation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"focal/application/labelled"
)

// Dataset is labelled conversations. A CSV file gives one conversation of
// one message per row; a YAML file gives conversations of several turns.
//
//	name: demo agent paraphrases
//	conversations:
//	  - kind: negation            # what the conversation tests (optional)
//	    turns:
//	      - user: I don't want to talk to a human
//	        rules: []             # exactly the rules that must match
//	        scenario: none        # the step after the turn; omitted: not checked
type Dataset struct {
	Name          string         `yaml:"name"`
	Conversations []Conversation `yaml:"conversations"`
}

// Conversation is labelled turns of one session.
type Conversation struct {
	Name  string `yaml:"name"`
	Kind  string `yaml:"kind"`
	Turns []Turn `yaml:"turns"`
}

// Turn is one message and what must follow it.
type Turn struct {
	User string `yaml:"user"`
	// Rules are the rules that must match, exactly; none when empty.
	Rules []string `yaml:"rules"`
	// Scenario is "<scenario>/<step>" or "none" after the turn; empty
	// when not checked.
	Scenario string `yaml:"scenario"`
}

// OutOfScope reports whether nothing is expected to match the turn.
func (t Turn) OutOfScope() bool { return len(t.Rules) == 0 }

// ParseDataset reads a dataset; name's extension says which format: .csv
// (columns text and category or label, an empty label meaning out of
// scope) or YAML. Unknown YAML keys are errors, so a misspelt label cannot
// pass unnoticed.
func ParseDataset(name string, data []byte) (*Dataset, error) {
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		return parseCSV(name, data)
	}
	var ds Dataset
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&ds); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if ds.Name == "" {
		ds.Name = name
	}
	if len(ds.Conversations) == 0 {
		return nil, fmt.Errorf("%s: no conversations", name)
	}
	for i, c := range ds.Conversations {
		if len(c.Turns) == 0 {
			return nil, fmt.Errorf("%s: conversation %d has no turns", name, i+1)
		}
		for j, t := range c.Turns {
			if strings.TrimSpace(t.User) == "" {
				return nil, fmt.Errorf("%s: conversation %d turn %d has no user message", name, i+1, j+1)
			}
		}
	}
	return &ds, nil
}

// parseCSV reads a labelled CSV (labelled.Read) as one conversation of one
// message per row; an empty label expects no rule.
func parseCSV(name string, data []byte) (*Dataset, error) {
	rows, err := labelled.Read(name, data)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: name}
	for i, r := range rows {
		if r.Text == "" {
			return nil, fmt.Errorf("%s: row %d has no text", name, i+2)
		}
		t := Turn{User: r.Text}
		if l := strings.TrimSpace(r.Label); l != "" {
			t.Rules = []string{l}
		}
		ds.Conversations = append(ds.Conversations, Conversation{Turns: []Turn{t}})
	}
	return ds, nil
}
