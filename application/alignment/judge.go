package alignment

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"focal/domain"
	"focal/ports"
)

// judge asks the model whether text satisfies a judge constraint. It fails
// closed: no model, a failed call or an answer that is not the expected JSON
// all count as a violation, because an unchecked reply must not leave.
func (e *Engine) judge(ctx context.Context, t *turn, c domain.CheckedConstraint, text string) string {
	req := ports.ChatRequest{
		Model: t.cp.Settings.Model,
		JSON:  true,
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: "You check replies of a customer-service agent against one rule. " +
				`Answer with one JSON object only: {"compliant": true|false, "reason": "<short reason>"}.`},
			{Role: ports.RoleUser, Content: fmt.Sprintf("Rule: %s\n\nReply to check:\n%s", c.Constraint.Value, text)},
		},
	}
	res, err := e.model.StreamChat(ctx, req, func(string) error { return nil })
	if err == nil {
		t.exp.Generation.ModelCalls++
		t.usage.Add(res.Usage)
	}
	if err != nil {
		return "judge unavailable, failing closed: " + domain.ErrorCodeOf(err).String()
	}
	var verdict struct {
		Compliant *bool  `json:"compliant"`
		Reason    string `json:"reason"`
	}
	if json.Unmarshal([]byte(jsonObject(res.Text)), &verdict) != nil || verdict.Compliant == nil {
		return "judge answer is not the expected JSON, failing closed"
	}
	if !*verdict.Compliant {
		return "judge: " + verdict.Reason
	}
	return ""
}

// jsonObject trims a model answer to its outermost JSON object, tolerating
// code fences and chatter around it.
func jsonObject(s string) string {
	start, end := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
	if start < 0 || end < start {
		return s
	}
	return s[start : end+1]
}
