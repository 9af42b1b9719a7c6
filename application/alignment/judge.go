package alignment

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"focal/domain"
	"focal/ports"
)

// judge asks the model whether text satisfies a judge constraint, and
// returns the violation ("" for none), the call's usage and whether the
// model answered. It fails closed: no model, a failed call or an answer
// that is not the expected JSON all count as a violation, because an
// unchecked reply must not leave.
func (e *Engine) judge(ctx context.Context, model string, c domain.CheckedConstraint, text string) (detail string, usage domain.TokenUsage, called bool) {
	req := ports.ChatRequest{
		Model: model,
		JSON:  true,
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: "You check replies of a customer-service agent against one rule. " +
				`Answer with one JSON object only: {"compliant": true|false, "reason": "<short reason>"}.`},
			{Role: ports.RoleUser, Content: fmt.Sprintf("Rule: %s\n\nReply to check:\n%s", c.Constraint.Value, text)},
		},
	}
	res, err := e.model.StreamChat(ctx, req, func(string) error { return nil })
	if err != nil {
		return "judge unavailable, failing closed: " + domain.ErrorCodeOf(err).String(), domain.TokenUsage{}, false
	}
	var verdict struct {
		Compliant *bool  `json:"compliant"`
		Reason    string `json:"reason"`
	}
	if json.Unmarshal([]byte(jsonObject(res.Text)), &verdict) != nil || verdict.Compliant == nil {
		return "judge answer is not the expected JSON, failing closed", res.Usage, true
	}
	if !*verdict.Compliant {
		return "judge: " + verdict.Reason, res.Usage, true
	}
	return "", res.Usage, true
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
