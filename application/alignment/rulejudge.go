package alignment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"focal/domain"
	"focal/ports"
)

// judgeHistoryTurns bounds the earlier turns the rule judge sees: enough
// for "yes" or "the second one" to make sense, few enough to keep its call
// small.
const judgeHistoryTurns = 3

// judgePool picks what the rule judge sees: the best top_k candidates,
// whatever their scores, so that it can find a rule the scores missed
// (a paraphrase the examples do not cover, a reply that needs the
// conversation to make sense) as well as turn down one they matched.
func judgePool(cands []domain.RuleCandidate, s domain.AgentSettings) []domain.RuleCandidate {
	pool := slices.Clone(cands)
	slices.SortStableFunc(pool, func(a, b domain.RuleCandidate) int { return cmp.Compare(b.Score, a.Score) })
	return pool[:min(len(pool), s.TopK)]
}

// judgeRules asks the model, in one call for all candidates, which rules
// apply, with the newest turns for context. An unusable answer or a failed
// call falls back to the score-based selection, deterministically; only a
// cancelled turn, or history that cannot be read, is an error.
func (e *Engine) judgeRules(ctx context.Context, cp *domain.CompiledPolicy, in ports.TurnInput, scored *ruleCandidates, history *recentTurns) (selection, error) {
	cands := scored.all()
	pool := judgePool(cands, cp.Settings)
	decision := &domain.JudgeDecision{Asked: make([]string, len(pool)), Applicable: []string{}}
	for i, c := range pool {
		decision.Asked[i] = c.RuleID
	}
	turns, err := history.forPrompt(ctx)
	if err != nil {
		return selection{}, err
	}
	res, err := e.model.StreamChat(ctx, judgeRequest(cp, in.Message, pool, turns), func(string) error { return nil })
	if ctx.Err() != nil {
		return selection{}, ctx.Err()
	}
	if err != nil {
		decision.Reason = "judge call failed (" + domain.ErrorCodeOf(err).String() + "): scores decided"
		sel := selectByScore(scored)
		sel.judge = decision
		return sel, nil
	}
	applicable, ok := parseJudgeAnswer(res.Text, decision.Asked)
	var sel selection
	if ok {
		decision.Used, decision.Applicable = true, applicable
		judged := map[string]bool{}
		for _, id := range applicable {
			judged[id] = true
		}
		sel = selectJudged(cp, cands, judged)
	} else {
		decision.Reason = "judge answer was not the expected JSON: scores decided"
		sel = selectByScore(scored)
	}
	sel.judge, sel.usage, sel.modelCalls = decision, res.Usage, 1
	return sel, nil
}

func judgeRequest(cp *domain.CompiledPolicy, message string, pool []domain.RuleCandidate, turns []domain.HistoryEntry) ports.ChatRequest {
	var rules strings.Builder
	for _, c := range pool {
		r := cp.Rule(c.RuleID)
		fmt.Fprintf(&rules, "- id %q: applies when %s\n", r.ID, r.Condition)
	}
	var conversation strings.Builder
	var done []domain.HistoryEntry
	for _, h := range turns {
		if h.Status == domain.TurnCompleted {
			done = append(done, h)
		}
	}
	for _, h := range done[max(0, len(done)-judgeHistoryTurns):] {
		fmt.Fprintf(&conversation, "Customer: %s\nAgent: %s\n", h.Message, h.Response)
	}
	user := "Rules:\n" + rules.String()
	if conversation.Len() > 0 {
		user += "\nConversation so far:\n" + conversation.String()
	}
	user += "\nCustomer's latest message:\n" + message
	return ports.ChatRequest{
		Model: cp.Settings.Model,
		JSON:  true,
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: "You decide which rules of a customer-service agent apply to the customer's latest message, " +
				"read in the light of the conversation so far. " +
				`Answer with one JSON object only, exactly {"applicable": ["<rule id>", ...]}, listing the ids of the rules that apply (possibly none).`},
			{Role: ports.RoleUser, Content: user},
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
