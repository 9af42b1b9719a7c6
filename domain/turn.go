package domain

import "time"

// TurnStatus says how a turn ended.
type TurnStatus string

// Turn statuses.
const (
	TurnCompleted   TurnStatus = "completed"
	TurnInterrupted TurnStatus = "interrupted"
	TurnFailed      TurnStatus = "failed"
)

// Turn is the audit record of one user message and the agent's reply. It is
// the commit point of the turn: it is stored once under (SessionID,
// TurnNumber) and carries the session's state after the turn.
type Turn struct {
	ID           string     `json:"id"`
	TenantID     string     `json:"tenant_id"`
	AgentID      string     `json:"agent_id"`
	AgentVersion int64      `json:"agent_version"`
	SessionID    string     `json:"session_id"`
	TurnNumber   int        `json:"turn_number"`
	RequestID    string     `json:"request_id,omitempty"`
	Message      string     `json:"message"`
	Response     string     `json:"response"`
	Status       TurnStatus `json:"status"`
	// ErrorCode is set when the turn failed or was interrupted.
	ErrorCode   ErrorCode      `json:"error_code,omitempty"`
	Explanation Explanation    `json:"explanation"`
	Model       string         `json:"model,omitempty"`
	Usage       TokenUsage     `json:"usage"`
	Timings     []StepTiming   `json:"timings"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	// Deltas are the text pieces released to a streaming client, in order,
	// kept so a reconnecting client can be replayed the events it missed.
	Deltas    []string  `json:"deltas,omitempty"`
	LatencyMS int64     `json:"latency_ms"`
	CreatedAt time.Time `json:"created_at"`
	// SessionAfter is the session's state once this turn is committed.
	SessionAfter *Session `json:"session_after,omitempty"`
	// KeyedRequest names the request made under an Idempotency-Key that
	// this turn answers ("" without a key): a store commits at most one
	// completed turn per keyed request, so a retry can never record one
	// message twice. Kept by the store, not part of the audit record.
	KeyedRequest string `json:"-"`
}

// HistoryEntry is what a prompt needs of an earlier turn: the exchange, how
// the turn ended, and where it left the conversation.
type HistoryEntry struct {
	TurnNumber int
	Message    string
	Response   string
	Status     TurnStatus
	// Scenario is the scenario step the turn ended in; zero outside scenarios.
	Scenario ScenarioRef
}

// History returns the turn's entry for later prompts.
func (t *Turn) History() HistoryEntry {
	h := HistoryEntry{TurnNumber: t.TurnNumber, Message: t.Message, Response: t.Response, Status: t.Status}
	if after := t.Explanation.Scenario.After; after != nil {
		h.Scenario = *after
	}
	return h
}

// TokenUsage counts model tokens spent on a turn.
type TokenUsage struct {
	Prompt     int `json:"prompt_tokens"`
	Completion int `json:"completion_tokens"`
}

// Total is prompt plus completion tokens.
func (u TokenUsage) Total() int { return u.Prompt + u.Completion }

// Add accumulates another call's usage.
func (u *TokenUsage) Add(o TokenUsage) {
	u.Prompt += o.Prompt
	u.Completion += o.Completion
}

// StepTiming is how long one engine step took.
type StepTiming struct {
	Step       string  `json:"step"`
	DurationMS float64 `json:"duration_ms"`
}

// Explanation records why the agent said what it said.
type Explanation struct {
	Retrieval Retrieval `json:"retrieval"`
	// Candidates are the rules that were eligible and scored, best first.
	Candidates []RuleCandidate `json:"candidates"`
	// Filtered are rules in scope that could not fire this turn, with why.
	Filtered []FilteredRule `json:"filtered,omitempty"`
	// Matched are the rules that applied, in prompt order.
	Matched    []RuleMatch      `json:"matched"`
	Scenario   ScenarioDecision `json:"scenario"`
	ToolCalls  []ToolCall       `json:"tool_calls"`
	Generation Generation       `json:"generation"`
	// Enforcement is the hard-constraint check of the reply.
	Enforcement Enforcement `json:"enforcement"`
	// Variables are the variables set (or refused) in the turn, in order:
	// by whom and from what text.
	Variables []Extraction `json:"variables,omitempty"`
}

// Retrieval modes: the matcher read the message's words, or its words and
// its embedding.
const (
	RetrievalLexical = "lexical"
	RetrievalHybrid  = "hybrid"
)

// Retrieval says how rules were scored and, with the rule judge, what it
// decided.
type Retrieval struct {
	Mode string `json:"mode"`
	// Note explains a degraded mode (embeddings unavailable, judge answer unusable).
	Note string `json:"note,omitempty"`
	// Judge is set when the rule judge ran.
	Judge *JudgeDecision `json:"judge,omitempty"`
	// Deferred is set on a stored record whose candidates, matches and
	// scenario entries name no example nor terms yet: its reader
	// completes them from the message and the policy version, and clears
	// it, before anyone sees the record.
	Deferred bool `json:"deferred,omitempty"`
	// Context is, on a deferred record of a short reply at a step, what
	// the agent last asked, which the step's matcher read the reply with:
	// the reader needs it again, and clears it with Deferred.
	Context string `json:"context,omitempty"`
}

// JudgeDecision is the rule judge's verdict on the candidates.
type JudgeDecision struct {
	Asked      []string `json:"asked"`
	Applicable []string `json:"applicable"`
	// Used is false when the answer could not be used and scores decided.
	Used   bool   `json:"used"`
	Reason string `json:"reason,omitempty"`
}

// NewExplanation returns an explanation whose lists are all empty rather
// than absent, so every turn record has the same shape.
func NewExplanation() Explanation {
	return Explanation{
		Candidates:  []RuleCandidate{},
		Matched:     []RuleMatch{},
		ToolCalls:   []ToolCall{},
		Enforcement: Enforcement{Rules: []string{}, Violations: []Violation{}},
	}
}

// RuleCandidate is one scored rule: its calibrated score, what the words
// and the meaning said on their own, and the example the message is most
// like.
type RuleCandidate struct {
	RuleID   string  `json:"rule_id"`
	Score    float64 `json:"score"`
	Lexical  float64 `json:"lexical"`
	Semantic float64 `json:"semantic,omitempty"`
	// Example is the rule's example most like the message, Terms the
	// message's words that weighed most; given for the best candidates.
	Example string   `json:"nearest_example,omitempty"`
	Terms   []string `json:"terms,omitempty"`
	// Priority is the rule's (validated to ±100): an int32 so that it and
	// Matched share a word, and a turn's recorded candidates (copied out of
	// the turn's list) fit a smaller size class.
	Priority int32 `json:"priority"`
	Matched  bool  `json:"matched"`
}

// FilteredRule is a rule in scope that was not a candidate.
type FilteredRule struct {
	RuleID string `json:"rule_id"`
	Reason string `json:"reason"`
}

// RuleMatch is a rule that applied to the turn and why.
type RuleMatch struct {
	RuleID string  `json:"rule_id"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`
}

// Scenario decision actions.
const (
	ScenarioNone     = "none"
	ScenarioStart    = "start"
	ScenarioAdvance  = "advance"
	ScenarioStay     = "stay"
	ScenarioExit     = "exit"
	ScenarioLoopExit = "loop_exit"
)

// ScenarioDecision is what navigation decided this turn.
type ScenarioDecision struct {
	Action     string       `json:"action"`
	Before     *ScenarioRef `json:"before"`
	After      *ScenarioRef `json:"after"`
	Transition *Transition  `json:"transition,omitempty"`
	Score      float64      `json:"score,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	// Options are the moves navigation weighed, best first (at most
	// MaxScenarioOptions): the one taken and its nearest rivals.
	Options []ScenarioOption `json:"options,omitempty"`
	// Digression is the rule that answered a question asked mid-flow; the
	// flow stays at its step and resumes there.
	Digression string `json:"digression,omitempty"`
	// Command is the built-in command the message gave ("cancel", "human").
	Command string `json:"command,omitempty"`
	// Reask is why the step asks again: what its variables lacked.
	Reask string `json:"reask,omitempty"`
	// Resumed is the flow returned to when a nested flow ended or was left.
	Resumed *ScenarioRef `json:"resumed,omitempty"`
	// Passed are the steps the flow went through on its way to After in
	// this turn, in order: each held what it collects when entered.
	Passed []string `json:"passed,omitempty"`
}

// MaxScenarioOptions bounds the options a decision records.
const MaxScenarioOptions = 5

// Scenario option moves.
const (
	MoveStart   = "start"   // start scenario Target
	MoveExit    = "exit"    // leave on the exit condition
	MoveAdvance = "advance" // take the transition to step Target
	MoveStay    = "stay"    // the message fits the rest of the policy better
)

// ScenarioOption is one move navigation weighed, with its calibrated score
// and what explains it.
type ScenarioOption struct {
	Move     string  `json:"move"`
	Target   string  `json:"target,omitempty"`
	Score    float64 `json:"score"`
	Lexical  float64 `json:"lexical"`
	Semantic float64 `json:"semantic,omitempty"`
	Example  string  `json:"nearest_example,omitempty"`
}

// ScenarioRef names a scenario and a step.
type ScenarioRef struct {
	ID   string `json:"id"`
	Step string `json:"step"`
}

// ToolCall is one tool invocation during a turn.
type ToolCall struct {
	ToolID string `json:"tool_id"`
	RuleID string `json:"rule_id"`
	// Step and On say which scenario step called the tool
	// ("<scenario>/<step>") and when: "entry" or "complete".
	Step      string         `json:"step,omitempty"`
	On        string         `json:"on,omitempty"`
	Input     map[string]any `json:"input,omitempty"`
	Output    map[string]any `json:"output,omitempty"`
	LatencyMS float64        `json:"latency_ms"`
	Error     string         `json:"error,omitempty"`
}

// Generation sources.
const (
	SourceTemplate = "template" // an exclusive template answered
	SourceModel    = "model"    // the chat model generated the reply
	SourceOffline  = "offline"  // no model: a suggested or fallback template answered
	SourceFallback = "fallback" // enforcement replaced the reply with a fallback template
	SourceRefusal  = "refusal"  // nothing acceptable: the fixed refusal
)

// Generation records how the reply text was produced.
type Generation struct {
	Source     string `json:"source"`
	TemplateID string `json:"template_id,omitempty"`
	ModelCalls int    `json:"model_calls"`
}

// Enforcement records the hard-constraint check of the reply.
type Enforcement struct {
	// Rules are the hard rules whose constraints were enforced.
	Rules         []string    `json:"rules"`
	Violations    []Violation `json:"violations"`
	Regenerations int         `json:"regenerations"`
	Fallback      bool        `json:"fallback"`
	Refused       bool        `json:"refused"`
}

// Violation is one constraint a candidate reply broke.
type Violation struct {
	RuleID string         `json:"rule_id"`
	Kind   ConstraintKind `json:"kind"`
	Value  string         `json:"value"`
	// Stage is which kind of candidate broke it; Attempt, for a generated
	// reply, which generation (0 is the first).
	Stage   ReplyStage `json:"stage"`
	Attempt int        `json:"attempt"`
	Detail  string     `json:"detail,omitempty"`
}

// ReplyStage names a kind of candidate reply, in the order they are tried.
type ReplyStage string

// Reply stages.
const (
	StageReply    ReplyStage = "reply"    // a generated reply or a rule's or step's template
	StageFallback ReplyStage = "fallback" // a fallback template
	StageRefusal  ReplyStage = "refusal"  // the refusal message
)
