package alignment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"focal/domain"
	"focal/ports"
)

// judgePool picks what the rule judge sees: the best 2·top_k candidates
// scoring at least half the match threshold. The judge adds precision where
// lexical and semantic scores are unsure; it never sees the long tail.
func judgePool(cands []domain.RuleCandidate, s domain.AgentSettings) []domain.RuleCandidate {
	pool := slices.Clone(cands)
	slices.SortFunc(pool, func(a, b domain.RuleCandidate) int { return cmp.Compare(b.Score, a.Score) })
	out := pool[:0]
	for _, c := range pool {
		if c.Score >= s.MatchThreshold/2 && len(out) < 2*s.TopK {
			out = append(out, c)
		}
	}
	return out
}

// judgeRules asks the model, in one call for all candidates, which rules
// apply, while the prompt's history loads. An unusable answer or a failed
// call falls back to the score-based selection, deterministically; only a
// cancelled turn is an error.
func (e *Engine) judgeRules(ctx context.Context, t *turn, cands []domain.RuleCandidate) error {
	pool := judgePool(cands, t.cp.Settings)
	if len(pool) == 0 {
		e.selectRules(t, cands, nil)
		return nil
	}
	decision := &domain.JudgeDecision{Asked: make([]string, len(pool)), Applicable: []string{}}
	for i, c := range pool {
		decision.Asked[i] = c.RuleID
	}
	t.exp.Retrieval.Judge = decision

	var wg sync.WaitGroup
	var historyErr error
	wg.Go(func() { historyErr = e.loadHistory(ctx, t) })
	res, err := e.model.StreamChat(ctx, judgeRequest(t, pool), func(string) error { return nil })
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if historyErr != nil {
		return historyErr
	}
	if err != nil {
		decision.Reason = "judge call failed (" + domain.ErrorCodeOf(err).String() + "): scores decided"
		e.selectRules(t, cands, nil)
		return nil
	}
	t.exp.Generation.ModelCalls++
	t.usage.Add(res.Usage)
	applicable, ok := parseJudgeAnswer(res.Text, decision.Asked)
	if !ok {
		decision.Reason = "judge answer was not the expected JSON: scores decided"
		e.selectRules(t, cands, nil)
		return nil
	}
	decision.Used, decision.Applicable = true, applicable
	judged := map[string]bool{}
	for _, id := range applicable {
		judged[id] = true
	}
	e.selectRules(t, cands, judged)
	return nil
}

func judgeRequest(t *turn, pool []domain.RuleCandidate) ports.ChatRequest {
	var rules strings.Builder
	for _, c := range pool {
		r := t.cp.Rule(c.RuleID)
		fmt.Fprintf(&rules, "- id %q: applies when %s\n", r.ID, r.Condition)
	}
	return ports.ChatRequest{
		Model: t.cp.Settings.Model,
		JSON:  true,
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: "You decide which rules of a customer-service agent apply to the customer's latest message. " +
				`Answer with one JSON object only, exactly {"applicable": ["<rule id>", ...]}, listing the ids of the rules that apply (possibly none).`},
			{Role: ports.RoleUser, Content: "Rules:\n" + rules.String() + "\nCustomer message:\n" + t.in.Message},
		},
	}
}

// parseJudgeAnswer reads {"applicable": [...]}. Ids the judge was not asked
// about and extra fields (models like to add a "reason") are ignored; a
// missing or mistyped "applicable" rejects the whole answer.
func parseJudgeAnswer(text string, asked []string) ([]string, bool) {
	var answer struct {
		Applicable *[]string `json:"applicable"`
	}
	if json.Unmarshal([]byte(jsonObject(text)), &answer) != nil || answer.Applicable == nil {
		return nil, false
	}
	out := []string{}
	for _, id := range *answer.Applicable {
		if slices.Contains(asked, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, true
}
