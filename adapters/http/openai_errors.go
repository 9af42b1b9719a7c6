package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"focal/domain"
)

// keyOpenAIDialect marks a request of the OpenAI-compatible routes: every
// error it gets, from authentication on, has OpenAI's error body.
const keyOpenAIDialect = "focal.openai_dialect"

// openAIDialect makes the rest of the chain answer errors in OpenAI's shape;
// it runs before authentication, so a bad token is answered that way too.
func openAIDialect(c *gin.Context) {
	c.Set(keyOpenAIDialect, true)
	c.Next()
}

func speaksOpenAI(c *gin.Context) bool { return c.GetBool(keyOpenAIDialect) }

// OpenAIErrorBody is the error body of the OpenAI-compatible routes:
// OpenAI's own shape, so its SDKs raise their usual error, with Focal's
// code in code and, beside OpenAI's fields (which SDKs tolerate), the
// unknown outcome of /v1/chat's error body.
type OpenAIErrorBody struct {
	Error OpenAIError `json:"error"`
}

// OpenAIError describes one error the way OpenAI's API does.
type OpenAIError struct {
	Message string `json:"message"`
	// Type is OpenAI's error family for the status.
	Type string `json:"type"`
	// Param names the first invalid field, when there is one.
	Param *string `json:"param"`
	// Code is Focal's error code.
	Code string `json:"code"`
	// Outcome and TurnID are ErrorPayload's: "unknown" and the turn, for a
	// commit the store confirmed neither way, so a client need not parse
	// the message for the turn to look up.
	Outcome string `json:"outcome,omitempty"`
	TurnID  string `json:"turn_id,omitempty"`
}

// openAIErrorBody restates a Focal error in OpenAI's shape: the field
// details join the message, the first field becomes param.
func openAIErrorBody(status int, p ErrorPayload) OpenAIErrorBody {
	msg := p.Message
	var param *string
	if len(p.Details) > 0 {
		parts := make([]string, len(p.Details))
		for i, d := range p.Details {
			parts[i] = d.Field + " " + d.Message
		}
		msg += ": " + strings.Join(parts, "; ")
		param = &p.Details[0].Field
	}
	return OpenAIErrorBody{Error: OpenAIError{Message: msg, Type: openAIErrorType(status, p.Code), Param: param, Code: string(p.Code),
		Outcome: p.Outcome, TurnID: p.TurnID}}
}

// openAIErrorType is the error type OpenAI's API gives a status; a spent
// budget is its quota error. There is no permission_error (403): these
// routes check no role, and no request of theirs names a tenant, so
// neither FORBIDDEN nor TENANT_MISMATCH can reach them (openapi.json
// declares no 403 on them, and openapi_test.go holds the types it lists
// to the statuses it declares).
func openAIErrorType(status int, code domain.ErrorCode) string {
	switch {
	case code == domain.CodeBudgetExceeded:
		return "insufficient_quota"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}
