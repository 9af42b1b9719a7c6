package evaluation

import (
	"context"
	"fmt"

	"focal/application"
	"focal/domain"
)

// Chatter runs one turn; *application.ProcessMessage is one.
type Chatter interface {
	Chat(ctx context.Context, cmd application.ChatCommand) (*application.ChatResult, error)
}

// TurnReader reads a turn record; *application.Conversations is one.
type TurnReader interface {
	Turn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error)
}

// Observation is one labelled turn and what the engine decided.
type Observation struct {
	Conversation int    `json:"conversation"`
	Kind         string `json:"kind,omitempty"`
	Message      string `json:"message"`
	// Expected and ExpectedScenario are the labels; Matched and Scenario
	// what the turn record says.
	Expected         []string `json:"expected"`
	ExpectedScenario string   `json:"expected_scenario,omitempty"`
	Matched          []string `json:"matched"`
	Scenario         string   `json:"scenario"`
	// Top is the best-scored candidate rule ("" without candidates),
	// RunnerUp the next.
	Top           string  `json:"top,omitempty"`
	TopScore      float64 `json:"top_score,omitempty"`
	RunnerUp      string  `json:"runner_up,omitempty"`
	RunnerUpScore float64 `json:"runner_up_score,omitempty"`
	// MatchingMicros is the turn's "matching" step: scoring the message
	// against the conditions.
	MatchingMicros float64 `json:"matching_us"`
}

// Right reports whether the turn matched exactly the expected rules and,
// when labelled, ended in the expected step.
func (o Observation) Right() bool {
	return sameSet(o.Expected, o.Matched) && (o.ExpectedScenario == "" || o.ExpectedScenario == o.Scenario)
}

// Run plays every conversation of ds against the agent, each in a session
// of its own, and observes every turn. Turns run one after the other, so
// their timings are not each other's. A turn that fails stops the run.
func Run(ctx context.Context, chat Chatter, turns TurnReader, tenantID, agentID string, ds *Dataset) ([]Observation, error) {
	var out []Observation
	for i, conv := range ds.Conversations {
		user := fmt.Sprintf("eval-%d", i+1)
		for j, t := range conv.Turns {
			res, err := chat.Chat(ctx, application.ChatCommand{TenantID: tenantID, AgentID: agentID, Channel: "eval",
				UserChannelID: user, Message: t.User})
			if err != nil {
				return out, fmt.Errorf("conversation %d turn %d: %w", i+1, j+1, err)
			}
			rec, err := turns.Turn(ctx, tenantID, res.TurnID)
			if err != nil {
				return out, fmt.Errorf("conversation %d turn %d: %w", i+1, j+1, err)
			}
			out = append(out, observe(i+1, conv.Kind, t, rec))
		}
	}
	return out, nil
}

func observe(conversation int, kind string, t Turn, rec *domain.Turn) Observation {
	e := rec.Explanation
	o := Observation{Conversation: conversation, Kind: kind, Message: t.User, Expected: orEmpty(t.Rules),
		ExpectedScenario: t.Scenario, Matched: []string{}, Scenario: "none"}
	for _, m := range e.Matched {
		o.Matched = append(o.Matched, m.RuleID)
	}
	if a := e.Scenario.After; a != nil {
		o.Scenario = a.ID + "/" + a.Step
	}
	if len(e.Candidates) > 0 {
		o.Top, o.TopScore = e.Candidates[0].RuleID, e.Candidates[0].Score
	}
	if len(e.Candidates) > 1 {
		o.RunnerUp, o.RunnerUpScore = e.Candidates[1].RuleID, e.Candidates[1].Score
	}
	for _, s := range rec.Timings {
		if s.Step == "matching" {
			o.MatchingMicros = s.DurationMS * 1000
		}
	}
	return o
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
