package alignment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"focal/application/extraction"
	"focal/domain"
	"focal/ports"
)

// collection is the turn's variables step: the session's variables once
// the turn's metadata, initial values and the message have set what they
// could, and a record of each set (or refused) value.
type collection struct {
	// vars are the session's variables after the step (built-ins apart):
	// the session's own map, only read, until the step sets a value in a
	// copy (owned, which shares modelCalls' word: see decided's size).
	// Most turns set none, and copied it for nothing.
	vars map[string]any
	// record lists every variable set or refused, in order.
	record []domain.Extraction
	// modelCalls and usage count the extraction call, when one was made.
	modelCalls int32
	owned      bool
	usage      domain.TokenUsage
	// note says why the model extraction gave nothing, when it was tried.
	note string
}

// set stores an accepted extraction, or removes the value a flow's start
// cleared. A refused one is only recorded, unless the message offered it
// in place of a value the variable holds (the message is read only for
// variables unset or changeable): the value held goes too, so that the
// step asks for the variable again and the flow does not go on with the
// value the customer meant to replace (docs/agent-bundle.md).
func (c *collection) set(e domain.Extraction) {
	c.record = append(c.record, e)
	if e.Problem != "" && !replacesHeld(e, c.vars) {
		return
	}
	if !c.owned {
		c.vars, c.owned = maps.Clone(c.vars), true
		if c.vars == nil {
			c.vars = map[string]any{}
		}
	}
	if e.Source == domain.ClearedOnStart || e.Problem != "" {
		delete(c.vars, e.Variable)
		return
	}
	c.vars[e.Variable] = e.Value
}

// replacesHeld reports whether e, a refused value, is one the customer's
// message offered for a variable that holds a value in vars: metadata's
// refused values leave what is held alone, as a client may resend them.
func replacesHeld(e domain.Extraction, vars map[string]any) bool {
	return offered(e) && vars[e.Variable] != nil
}

// offered reports whether e's value came from the customer's message.
func offered(e domain.Extraction) bool {
	return e.Source == domain.SetByExtractor || e.Source == domain.SetByModel
}

// gaveAll reports whether the flow's run gave each of names the value it
// holds: this turn (the customer's message, read by an extractor or the
// model, or the request's metadata; not an initial value or a flow's
// start) or an earlier turn of the run, as run, the run's
// domain.ScenarioPosition.Given, records. earlier says which of them an
// earlier turn gave, and in which ("reason given in turn 1 of this
// run"), "" when this turn gave them all.
func (c *collection) gaveAll(names []string, run map[string]int) (earlier string, ok bool) {
	for _, n := range names {
		if c.vars[n] == nil {
			return "", false
		}
		if c.gave(n) {
			continue
		}
		turn, given := run[n]
		if !given {
			return "", false
		}
		if earlier != "" {
			earlier += ", "
		}
		earlier += fmt.Sprintf("%s given in turn %d", n, turn)
	}
	if earlier != "" {
		earlier += " of this run"
	}
	return earlier, true
}

// gave reports whether the newest value recorded for name this turn is
// an accepted one from the message or the metadata.
func (c *collection) gave(name string) bool {
	for i := len(c.record) - 1; i >= 0; i-- {
		if e := &c.record[i]; e.Variable == name {
			return e.Problem == "" && (offered(*e) || e.Source == domain.SetByMetadata)
		}
	}
	return false
}

// refusedOffered is the first variable step collects that holds no value
// after the collection (none before the turn, or the one held dropped for
// the refused value: set) because the turn refused the value the message
// offered for it, or "".
func (c *collection) refusedOffered(step *domain.Step) string {
	for _, n := range step.Collects {
		if c.vars[n] != nil {
			continue
		}
		if c.problem(n) != nil {
			return n
		}
	}
	return ""
}

// problem is the newest value recorded for name if it is a refusal of a
// value the message offered, else nil. A refused metadata value is the
// client's, not the customer's: the turn record lists it, but the reply
// does not tell the customer their message gave it, and the step asks as
// if none had come.
func (c *collection) problem(name string) *domain.Extraction {
	for i := len(c.record) - 1; i >= 0; i-- {
		if e := &c.record[i]; e.Variable == name {
			if e.Problem == "" || !offered(*e) {
				return nil
			}
			return e
		}
	}
	return nil
}

// collect sets the turn's variables before navigation, so that guards see
// them: the declared initial values (first turn), values from the
// request's metadata, then what the current step collects, read from the
// message by the deterministic extractors and, for what they leave
// missing, by at most one model call; and, read ahead, what the message
// gives the flow's later steps (aheadNames).
func (e *Engine) collect(ctx context.Context, cp *domain.CompiledPolicy, in ports.TurnInput, now time.Time, asked string) collection {
	c := collection{vars: in.Session.Variables}
	vs := cp.Variables()
	for _, v := range cp.Policy.Variables {
		x := vs.Get(v.Name)
		if in.TurnNumber == 1 && v.Initial != nil && c.vars[v.Name] == nil {
			if val, err := x.Check(v.Initial, now); err == nil {
				c.set(domain.Extraction{Variable: v.Name, Source: domain.SetByInitial, Value: val})
			}
		}
		if raw, ok := in.Metadata[v.FromMetadata]; ok && v.FromMetadata != "" && raw != nil {
			c.set(checked(x, raw, domain.SetByMetadata, domain.MetaPrefix+v.FromMetadata, now))
		}
	}
	pos := in.Session.Scenario
	var names []string
	if step := currentStep(cp, pos); step != nil {
		names = step.Collects
	}
	ahead := aheadNames(cp, pos, &c, names)
	if len(names) == 0 && len(ahead) == 0 {
		return c
	}
	e.readMessage(ctx, cp, &c, names, ahead, in.Message, asked, now)
	return c
}

// readMessage reads names from msg: deterministically, then with the
// model for what is still missing. A variable that may not change keeps
// its value. The rest of the message is read ahead, deterministically,
// for the variables of the flow's run that no step has asked for yet
// (aheadNames): each message of a run is, so that a reason said with the
// order ("I want to return my jacket, it was too small") is not asked for
// again when the flow gets to the reason. What that reading refuses is
// not kept: the message was not asked for those variables (see
// domain.VariableSet.ExtractAhead).
func (e *Engine) readMessage(ctx context.Context, cp *domain.CompiledPolicy, c *collection, names, ahead []string, msg, asked string, now time.Time) {
	vs := cp.Variables()
	open := openNames(vs, c, names)
	read, early := vs.ExtractAhead(open, ahead, msg, now)
	for _, x := range read {
		c.set(x)
	}
	for _, x := range early {
		c.set(x)
	}
	if e.extractor == nil || len(names) == 0 {
		return
	}
	res, err := e.extractor.Fill(ctx, extraction.Request{Variables: vs, Asked: open, Known: c.vars,
		Read: read, Message: msg, Question: asked, Now: now, Model: cp.Settings.Model})
	if res.Called {
		c.modelCalls++
		c.usage.Add(res.Usage)
	}
	if res.Note == extraction.NoteUnreadable {
		c.note = "the extraction call's answer was not the JSON object asked for"
	}
	if err != nil {
		c.note = "the extraction call failed: " + errorMessage(err)
		return
	}
	for _, x := range res.Extractions {
		c.set(x)
	}
}

// aheadNames are the variables the steps of pos's scenario collect, other
// than names (the step's, read as asked), that may be read unasked
// (domain.Extractor.ReadsUnasked) and that a value read ahead may set
// (openAhead): those a message of the run is read ahead for. nil outside
// a flow, and when there are none.
func aheadNames(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition, c *collection, names []string) []string {
	if pos == nil {
		return nil
	}
	sc := cp.Scenario(pos.ScenarioID)
	if sc == nil {
		return nil
	}
	vs := cp.Variables()
	var ahead []string
	for _, n := range sc.Collected() {
		if slices.Contains(names, n) {
			continue
		}
		if x := vs.Get(n); x != nil && x.ReadsUnasked() && c.openAhead(n, x, pos) {
			ahead = append(ahead, n)
		}
	}
	return ahead
}

// openAhead reports whether a value read ahead in the run at pos may set
// name, x's variable: one unset, or a changeable one held from before the run, which
// neither an earlier turn of the run (pos.Given) nor this turn gave. Such
// a value is an earlier run's (a second return holds the first one's
// reason when on_start keeps it), another flow's, a tool's or an initial
// value: what the run's own messages say replaces it, as the step's own
// reading (openNames) and a flow's start (readEntered) replace a
// changeable value, and counts as given in the run (noteGiven), so that
// the step is passed when the flow gets there rather than asking for
// what the customer just said or going on with the old value. A value
// the run was given is not read ahead again: it is the customer's answer
// in this run, and a later message naming another in passing (a second
// order number, an old address) would replace it unasked; the step, when
// it asks, takes a change. A value that may not change is kept, as the
// step keeps it: changeable: false says the customer does not change it
// once it is set, and a reading ahead, which nothing asked for, has less
// standing than the step's own; its step asks, as for any value held
// from before the run.
func (c *collection) openAhead(name string, x *domain.Extractor, pos *domain.ScenarioPosition) bool {
	if c.vars[name] == nil {
		return true
	}
	if !x.Variable().Changeable {
		return false
	}
	_, given := pos.Given[name]
	return !given && !c.gave(name)
}

// checked validates a value from outside the message (metadata) for the
// record.
func checked(x *domain.Extractor, raw any, src domain.VariableSource, text string, now time.Time) domain.Extraction {
	e := domain.Extraction{Variable: x.Variable().Name, Source: src, Text: text}
	v, err := x.Check(raw, now)
	if ee := (*domain.ExtractError)(nil); errors.As(err, &ee) {
		e.Problem, e.Reason = ee.Problem, ee.Reason
		return e
	} else if err != nil {
		e.Problem, e.Reason = domain.ProblemInvalid, err.Error()
		return e
	}
	e.Value = v
	return e
}

// currentStep is the step at pos, or nil.
func currentStep(cp *domain.CompiledPolicy, pos *domain.ScenarioPosition) *domain.Step {
	if pos == nil {
		return nil
	}
	if sc := cp.Scenario(pos.ScenarioID); sc != nil {
		return sc.Step(pos.StepID)
	}
	return nil
}

// openNames are the names among names (a step's collects) that the
// message may set: declared, and unset or changeable. When all of them are
// (as on most turns) they are names itself, not a copy; nothing writes to
// them.
func openNames(vs *domain.VariableSet, c *collection, names []string) []string {
	open := func(n string) bool {
		x := vs.Get(n)
		return x != nil && (c.vars[n] == nil || x.Variable().Changeable)
	}
	for i, n := range names {
		if !open(n) {
			var kept []string // nil when none is open, as before
			kept = append(kept, names[:i]...)
			for _, n := range names[i+1:] {
				if open(n) {
					kept = append(kept, n)
				}
			}
			return kept
		}
	}
	return slices.Clip(names)
}

// reaskReason says why a collect step asks again: the problem with what
// the customer gave, else what is still needed.
func reaskReason(cp *domain.CompiledPolicy, c collection, step *domain.Step) string {
	first, missing := "", false
	for name := range step.EachMissing(c.vars) {
		if p := c.problem(name); p != nil {
			return sentence(p.Reason)
		}
		if !missing {
			first, missing = name, true
		}
	}
	if !missing {
		return ""
	}
	x := cp.Variables().Get(first)
	if x == nil {
		return ""
	}
	v := x.Variable()
	if v.Hint != "" {
		return "I still need your " + v.Label() + " (" + v.Hint + ")."
	}
	return "I still need your " + v.Label() + "."
}

// sentence makes a reason a sentence: capitalised (unless it starts with
// a quote) and ending in a full stop or a question mark.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if s[0] != '"' {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// errorMessage is what a failed call says, without internal detail.
func errorMessage(err error) string {
	if de := (*domain.Error)(nil); errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}
