// Package extraction fills the variables a flow step asks for from the
// customer's message with one structured call to the chat model, for what
// the deterministic extractors (domain.VariableSet) could not read.
package extraction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"focal/domain"
	"focal/ports"
)

// Request is what one turn asks of the model.
type Request struct {
	// Variables are the agent's declarations, compiled.
	Variables *domain.VariableSet
	// Asked are the variables the step collects, in order.
	Asked []string
	// Known are the values the session holds already.
	Known map[string]any
	// Read are this turn's deterministic extractions: a variable they
	// read (set, or found invalid or ambiguous) is not asked of the model,
	// whose reading would only repeat or overrule them.
	Read []domain.Extraction
	// Message is the customer's message; Question, when known, what the
	// agent asked it in reply to.
	Message, Question string
	// Now is the turn's time: relative dates count from its day.
	Now time.Time
	// Model is the agent's model setting ("" for the service's).
	Model string
}

// missing returns the asked variables that nothing has read yet.
func (r *Request) missing() []*domain.Extractor {
	var out []*domain.Extractor
	for _, name := range r.Asked {
		x := r.Variables.Get(name)
		if x == nil || r.read(name) || r.Known[name] != nil || slices.Contains(out, x) {
			continue
		}
		out = append(out, x)
	}
	return out
}

// anyMissing reports whether missing has any: an asked variable that
// nothing has read yet.
func (r *Request) anyMissing() bool {
	for _, name := range r.Asked {
		if r.Variables.Get(name) != nil && !r.read(name) && r.Known[name] == nil {
			return true
		}
	}
	return false
}

// read reports whether the turn's deterministic extractions read name:
// they are few (one per variable a step collects), so they are searched.
func (r *Request) read(name string) bool {
	for i := range r.Read {
		if r.Read[i].Variable == name {
			return true
		}
	}
	return false
}

// Result is what the model's reading gave.
type Result struct {
	// Extractions hold one entry per variable the model gave a value for:
	// the value in its stored form, or the problem that kept it out.
	Extractions []domain.Extraction
	// Called reports that the model was called.
	Called bool
	Usage  domain.TokenUsage
	// Note says why no call was made, or why its answer gave nothing.
	Note string
}

// Notes of a Result.
const (
	NoteComplete   = "every variable asked for is known: no model call"
	NoteSpent      = "the turn's one extraction call was already made"
	NoteOffline    = "no chat model is configured"
	NoteUnreadable = "the model's answer was not the JSON object asked for"
)

// Extractor asks the model for variables. Build it with New; it is safe
// for concurrent use.
type Extractor struct {
	model ports.ChatModel
	// offline: the model never generates (ports.OfflineModel), so no
	// request is built for it.
	offline bool
	schemas schemaCache
}

// New returns an extractor over model.
func New(model ports.ChatModel) (*Extractor, error) {
	if model == nil {
		return nil, errors.New("extraction: a chat model is required")
	}
	return &Extractor{model: model, offline: ports.IsOffline(model),
		schemas: schemaCache{m: map[*domain.VariableSet]map[string]*cachedSchema{}}}, nil
}

// Turn is one turn's extraction. However often Fill is called, and from
// however many goroutines, it calls the model at most once: a turn never
// spends more than one extraction call.
type Turn struct {
	x     *Extractor
	mu    sync.Mutex
	spent bool
}

// Turn starts a turn's extraction.
func (x *Extractor) Turn() *Turn { return &Turn{x: x} }

// Fill asks the model, in one call, for the asked variables that neither
// the session nor this turn's deterministic extraction has read, and
// checks each value it gives against its variable's type. It makes no
// call when there is nothing left to read or the turn's call was made
// already. The model's errors are returned as they come (LLM_ERROR,
// LLM_UNAVAILABLE, TIMEOUT, or ctx's error) with Called set; the offline
// model is no error, only a Note.
func (t *Turn) Fill(ctx context.Context, req Request) (Result, error) {
	missing := req.missing()
	if len(missing) == 0 {
		return Result{Note: NoteComplete}, nil
	}
	t.mu.Lock()
	spent := t.spent
	t.spent = true
	t.mu.Unlock()
	if spent {
		return Result{Note: NoteSpent}, nil
	}
	return t.x.fill(ctx, &req, missing)
}

// Fill is Turn().Fill for a caller that fills once per turn by
// construction: it makes no Turn.
func (x *Extractor) Fill(ctx context.Context, req Request) (Result, error) {
	if x.offline {
		// The call is never made: whether any is missing is the answer,
		// told without listing them.
		if req.anyMissing() {
			return Result{Note: NoteOffline}, nil
		}
		return Result{Note: NoteComplete}, nil
	}
	missing := req.missing()
	if len(missing) == 0 {
		return Result{Note: NoteComplete}, nil
	}
	return x.fill(ctx, &req, missing)
}

// fill makes the call for missing, the variables of req still missing.
func (x *Extractor) fill(ctx context.Context, req *Request, missing []*domain.Extractor) (Result, error) {
	if x.offline {
		return Result{Note: NoteOffline}, nil // as its ErrOffline answer would give
	}
	res, err := x.model.StreamChat(ctx, chatRequest(req, missing, x.schemas.system(req.Variables, missing, req.Now)), ignoreDelta)
	if errors.Is(err, ports.ErrOffline) {
		return Result{Note: NoteOffline}, nil
	}
	out := Result{Called: true, Usage: res.Usage}
	if err != nil {
		return out, err
	}
	answer, ok := parseAnswer(res.Text)
	if !ok {
		out.Note = NoteUnreadable
		return out, nil
	}
	for _, v := range missing {
		name := v.Variable().Name
		raw, given := answer[name]
		if !given || string(raw) == "null" {
			continue
		}
		out.Extractions = append(out.Extractions, check(v, raw, req.Now))
	}
	return out, nil
}

func ignoreDelta(string) error { return nil }

// check holds one value of the model's answer to its variable's type.
func check(x *domain.Extractor, raw json.RawMessage, now time.Time) domain.Extraction {
	e := domain.Extraction{Variable: x.Variable().Name, Source: domain.SetByModel}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		e.Problem, e.Reason = domain.ProblemInvalid, "the model's value is not JSON"
		return e
	}
	e.Text = domain.FormatValue(v)
	value, err := x.Check(v, now)
	var ee *domain.ExtractError
	if errors.As(err, &ee) {
		e.Problem, e.Reason = ee.Problem, ee.Reason
		return e
	}
	e.Value = value
	return e
}

// parseAnswer reads the model's JSON object; models sometimes wrap it in
// prose or a code fence, which is cut away.
func parseAnswer(text string) (map[string]json.RawMessage, bool) {
	start, end := strings.IndexByte(text, '{'), strings.LastIndexByte(text, '}')
	if start < 0 || end < start {
		return nil, false
	}
	var answer map[string]json.RawMessage
	if json.Unmarshal([]byte(text[start:end+1]), &answer) != nil {
		return nil, false
	}
	return answer, true
}

// chatRequest is the one structured-output call: the system prompt
// (systemPrompt's, with the JSON schema of the variables wanted and the
// rules of the answer), and the message.
func chatRequest(req *Request, missing []*domain.Extractor, system string) ports.ChatRequest {
	user := "Customer message:\n" + req.Message
	if req.Question != "" {
		// One concatenation: the same text as asked + "\n\n" + user.
		user = "The agent asked:\n" + req.Question + "\n\nCustomer message:\n" + req.Message
	}
	zero := 0.0
	return ports.ChatRequest{
		Model:       req.Model,
		JSON:        true,
		Temperature: &zero,
		MaxTokens:   128 + 64*len(missing),
		Messages: []ports.ChatMessage{
			{Role: ports.RoleSystem, Content: system},
			{Role: ports.RoleUser, Content: user},
		},
	}
}

// systemPrompt is the extraction's system prompt for the answer schema
// and the day of now.
func systemPrompt(schema string, now time.Time) string {
	return "You read values out of a customer's message for a customer-service agent. " +
		"Answer with one JSON object only, valid against this JSON Schema:\n" + schema + "\n" +
		"Give a value only when the message states it; use null for anything it does not give. Never guess. " +
		"Today is " + now.Format(domain.DateLayout) + " (" + now.Weekday().String() + "): write dates as YYYY-MM-DD."
}

// schemaCache keeps the answer schemas already written, by variable set
// and variables wanted: a flow step asks for the same variables turn after
// turn, and writing the schema is most of a request's cost. With each it
// keeps the system prompt of the last day asked for. It holds at
// most maxSchemas (it is emptied when full: policies are recompiled, and
// a cache that only grew would keep their variable sets alive).
type schemaCache struct {
	mu sync.Mutex
	// m holds the schemas by variable set, then by the wanted variables'
	// names, in order, NUL-separated: looked up with the names written
	// into a buffer, so a turn allocates no key.
	m map[*domain.VariableSet]map[string]*cachedSchema
	n int // how many schemas m holds
}

// cachedSchema is an answer schema and its system prompt on one day.
type cachedSchema struct {
	schema string
	year   int
	month  time.Month
	day    int
	prompt string
}

// maxSchemas bounds the schemaCache.
const maxSchemas = 1024

// system is the system prompt asking for missing, from vars, on now's day.
func (c *schemaCache) system(vars *domain.VariableSet, missing []*domain.Extractor, now time.Time) string {
	var room [256]byte
	names := room[:0]
	for _, x := range missing {
		names = append(names, x.Variable().Name...)
		names = append(names, 0)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[vars][string(names)]
	if !ok {
		if c.n >= maxSchemas {
			clear(c.m)
			c.n = 0
		}
		byNames := c.m[vars]
		if byNames == nil {
			byNames = map[string]*cachedSchema{}
			c.m[vars] = byNames
		}
		s = &cachedSchema{schema: answerSchemaText(missing)}
		byNames[string(names)] = s
		c.n++
	}
	if y, m, d := now.Date(); s.prompt == "" || y != s.year || m != s.month || d != s.day {
		s.prompt, s.year, s.month, s.day = systemPrompt(s.schema, now), y, m, d
	}
	return s.prompt
}

// answerSchemaText is answerSchema as indented JSON.
func answerSchemaText(missing []*domain.Extractor) string {
	schema, _ := json.MarshalIndent(answerSchema(missing), "", "  ")
	return string(schema)
}

// answerSchema is the JSON Schema of the answer: one property per
// variable wanted, null allowed for each.
func answerSchema(missing []*domain.Extractor) map[string]any {
	props := map[string]any{}
	for _, x := range missing {
		props[x.Variable().Name] = propertySchema(x.Variable())
	}
	names := slices.Sorted(maps.Keys(props))
	return map[string]any{"type": "object", "properties": props, "required": names, "additionalProperties": false}
}

func propertySchema(v domain.Variable) map[string]any {
	desc := v.Label()
	if v.Hint != "" {
		desc += " (" + v.Hint + ")"
	}
	s := map[string]any{"type": []string{"string", "null"}}
	switch v.Type {
	case domain.VarNumber:
		s["type"] = []string{"number", "null"}
	case domain.VarBoolean:
		s["type"] = []string{"boolean", "null"}
	case domain.VarEnum:
		values := []any{}
		for _, ev := range v.Values {
			values = append(values, ev.Value)
		}
		s["enum"] = append(values, nil)
	case domain.VarDate:
		s["format"] = "date"
	case domain.VarEmail:
		s["format"] = "email"
	case domain.VarAmount:
		desc += ": the amount with its currency, such as \"45.00 EUR\""
		if v.Currency != "" {
			desc += fmt.Sprintf(" (in %s)", v.Currency)
		}
	case domain.VarPhone:
		desc += ": the phone number as written"
	}
	s["description"] = desc
	return s
}
