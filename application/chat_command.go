package application

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"focal/domain"
)

// ChatCommand is one user message for an agent.
type ChatCommand struct {
	// TenantID is the authenticated tenant (from the token).
	TenantID string
	// BodyTenantID is the tenant the client named, if any; it must match.
	BodyTenantID  string
	AgentID       string
	Channel       string
	UserChannelID string
	Message       string
	SessionID     string
	Metadata      map[string]any
	RequestID     string
}

// ChatResult is the reply to a ChatCommand.
type ChatResult struct {
	Response     string              `json:"response"`
	SessionID    string              `json:"session_id"`
	TurnID       string              `json:"turn_id"`
	Scenario     *domain.ScenarioRef `json:"scenario"`
	MatchedRules []string            `json:"matched_rules"`
	ToolsCalled  []string            `json:"tools_called"`
	TokensUsed   int                 `json:"tokens_used"`
	LatencyMS    int64               `json:"latency_ms"`
	// Usage splits TokensUsed into prompt and completion tokens, for
	// clients that count them apart (the OpenAI-compatible routes).
	Usage domain.TokenUsage `json:"-"`
}

// Input limits of a chat message: they bound what one request can make a
// turn hold, store and send to the model.
const (
	MaxMessageRunes       = 10000
	MaxChannelLength      = 64
	MaxUserChannelIDRunes = 256
	MaxMetadataBytes      = domain.MaxMetadataBytes
)

var channelName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

// Validate checks every field and reports all that are invalid at once;
// a tenant mismatch is a 403, not a field error.
func (c *ChatCommand) Validate() error {
	var errs []domain.FieldError
	bad := func(field, msg string) { errs = append(errs, domain.FieldError{Field: field, Message: msg}) }
	if c.BodyTenantID != "" && !IsUUID(c.BodyTenantID) {
		bad("tenant_id", "must be a UUID")
	}
	switch {
	case c.AgentID == "":
		bad("agent_id", "is required")
	case !IsUUID(c.AgentID):
		bad("agent_id", "must be a UUID")
	}
	switch {
	case c.Channel == "":
		bad("channel", "is required")
	case len(c.Channel) > MaxChannelLength || !channelName.MatchString(c.Channel):
		bad("channel", fmt.Sprintf("must be a lowercase name of 1..%d characters (a-z, 0-9, '_', '.', '-')", MaxChannelLength))
	}
	if msg := textProblem(c.UserChannelID, MaxUserChannelIDRunes, false); msg != "" {
		bad("user_channel_id", msg)
	}
	if msg := textProblem(c.Message, MaxMessageRunes, true); msg != "" {
		bad("message", msg)
	}
	if c.SessionID != "" && !IsUUID(c.SessionID) {
		bad("session_id", "must be a UUID")
	}
	errs = append(errs, domain.ValidateMetadata(c.Metadata)...)
	if len(errs) > 0 {
		return domain.InvalidFields(errs...)
	}
	if c.BodyTenantID != "" && c.BodyTenantID != c.TenantID {
		return domain.Errorf(domain.CodeTenantMismatch, "tenant_id does not match the authenticated tenant")
	}
	return nil
}

// textProblem says what is wrong with a required text field, or "".
// Messages may hold line breaks and tabs; identifiers may not hold any
// control character.
func textProblem(s string, maxRunes int, multiline bool) string {
	n := utf8.RuneCountInString(s)
	switch {
	case s == "":
		return "is required"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case n > maxRunes:
		return fmt.Sprintf("must be 1..%d characters", maxRunes)
	case strings.TrimSpace(s) == "":
		return "must not be blank"
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return "must not contain control characters"
		}
	}
	return ""
}

// IsUUID reports whether s is a UUID in its canonical 36-character form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
