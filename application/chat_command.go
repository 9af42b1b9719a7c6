package application

import (
	"fmt"
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

// isChannelName reports whether s is a channel name: a lowercase letter,
// then lowercase letters, digits, '_', '.' and '-' (^[a-z][a-z0-9_.-]*$),
// checked byte by byte rather than by a regular expression on every turn.
func isChannelName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

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
	case len(c.Channel) > MaxChannelLength || !isChannelName(c.Channel):
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
// control character. The text is read once, and its ASCII without
// decoding, for what the checks need (validity, length, blankness and
// control characters); the checks then answer in their order.
func textProblem(s string, maxRunes int, multiline bool) string {
	if s == "" {
		return "is required"
	}
	var runes int
	blank, control := true, false
	for i := 0; i < len(s); runes++ {
		// Eight printable ASCII bytes at once (most text is): eight
		// runes, none a control character, blank only if all are spaces.
		if len(s)-i >= 8 {
			if w, ok := printableASCII8(s[i : i+8]); ok {
				runes += 7
				i += 8
				blank = blank && w == spaces8
				continue
			}
		}
		if c := s[i]; c < utf8.RuneSelf {
			i++
			blank = blank && asciiSpace(c)
			control = control || (isASCIIControl(c) && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "must be valid UTF-8"
		}
		i += size
		blank = blank && unicode.IsSpace(r)
		control = control || unicode.IsControl(r)
	}
	switch {
	case runes > maxRunes:
		return fmt.Sprintf("must be 1..%d characters", maxRunes)
	case blank:
		return "must not be blank"
	case control:
		return "must not contain control characters"
	}
	return ""
}

// spaces8 is eight spaces read as one word (printableASCII8).
const spaces8 = 0x2020202020202020

// printableASCII8 reads b, eight bytes, as one little-endian word, and
// reports whether each is printable ASCII (0x20 to 0x7e): no byte is below
// 0x20 ((w - 0x20 each) borrows into a high bit that w lacks only for
// such a byte) and none is above 0x7e (w + 1 each sets a high bit, or w
// has one, only for such a byte).
func printableASCII8(b string) (uint64, bool) {
	w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	return w, (w-0x20*ones8)&^w&highs8 == 0 && (w+ones8|w)&highs8 == 0
}

// ones8 and highs8 are a one and a high bit in each byte of a word.
const ones8, highs8 = 0x0101010101010101, 0x8080808080808080

// asciiSpace is unicode.IsSpace for an ASCII byte.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// isASCIIControl is unicode.IsControl for an ASCII byte.
func isASCIIControl(c byte) bool { return c < 0x20 || c == 0x7f }

// IsUUID reports whether s is a UUID in its canonical 36-character form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
