package memory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/klauspost/compress/s2"

	"focal/domain"
)

// An audit record is mostly its explanation: 20 scored candidates (3 KB of
// a 100-rule turn's 4.5), the scenario's options, the step timings; and
// encoding/json spent most of a commit's instructions reflecting over
// them. So encodeAudit writes the record itself, the parts that are
// numbers, strings and lists of them (the rule judge's decision too), and
// leaves to encoding/json the ones that hold any value or are rarely set
// (tool calls, extractions, metadata, violations); a turn without them,
// as most are, goes through no reflection at all. The bytes are
// json.Marshal's, once expandAudit has put back what its tokens stand for
// (see audit_tokens.go): TestAuditJSONIsMarshal holds them to it, over the
// bench agent's recorded turns and a turn with every field of domain.Turn
// set, with and without those, so that a field added to the record and
// not written here fails it.

// errNoJSONForm reports a float encoding/json refuses (NaN, infinities).
var errNoJSONForm = errors.New("a float with no JSON form")

// encodeAudit returns turn's audit record, the turn without SessionAfter,
// as json.Marshal writes it but for its tokens (decodeAudit reads it),
// valid until the next encodeAudit. A record of up to
// auditKeptWhole bytes is kept as it is: with its tokens S2 saved a fifth
// of a recorded turn's record, for more than half of what keepTurn spent.
// A longer one (a tool's big output, long context) is compressed behind
// auditCompressed, where S2 pays. It reads turn in place: a copy with
// SessionAfter cleared would be a heap object of its own at every commit.
//
// The record leaves out what the store keeps anyway (see keptStrings),
// the agent too when sessionAgent says it is the session's.
func (e *encoder) encodeAudit(turn *domain.Turn, sessionAgent bool) ([]byte, error) {
	raw, err := e.appendTurn(e.audit[:0], turn, sessionAgent)
	if err != nil {
		// encoding/json says what it cannot encode, as before.
		rec := *turn
		rec.SessionAfter = nil
		raw, err = e.appendMarshal(nil, &rec)
		if err != nil {
			return nil, err
		}
	} else {
		e.audit = raw
	}
	if len(raw) <= auditKeptWhole {
		return raw, nil
	}
	if n := 1 + s2.MaxEncodedLen(len(raw)); cap(e.bigAudit) < n {
		e.bigAudit = make([]byte, n)
	}
	z := s2.Encode(e.bigAudit[1:cap(e.bigAudit)], raw)
	e.bigAudit[0] = auditCompressed
	return e.bigAudit[:1+len(z)], nil
}

// auditKeptWhole is the longest audit record kept uncompressed: a 100-rule
// turn's is about 1.2 KiB.
const auditKeptWhole = 4 << 10

// auditCompressed leads a compressed audit record: a byte neither JSON nor
// a token starts with.
const auditCompressed = 0

// appendTurn appends what json.Marshal returns for t with SessionAfter
// nil, written with tokens (see audit_tokens.go); the agent's alone when
// sessionAgent is set.
func (e *encoder) appendTurn(b []byte, t *domain.Turn, sessionAgent bool) ([]byte, error) {
	b = append(b, tokID, tokTenantID)
	if sessionAgent {
		b = append(b, tokSessionAgent)
	} else {
		b = domain.AppendJSONString(append(b, tokAgentID), t.AgentID)
	}
	b = strconv.AppendInt(append(b, tokAgentVersion), t.AgentVersion, 10)
	b = strconv.AppendInt(append(b, tokSessionID, tokTurnNumber), int64(t.TurnNumber), 10)
	if t.RequestID != "" {
		b = domain.AppendJSONString(append(b, tokRequestID), t.RequestID)
	}
	b = append(b, tokMessage, tokResponse, tokStatus)
	if t.ErrorCode != "" {
		b = appendField(b, ',', "error_code", string(t.ErrorCode))
	}
	b, err := e.appendExplanation(appendName(b, nameExplanation), &t.Explanation)
	if err != nil {
		return nil, err
	}
	if t.Model != "" {
		b = appendField(b, ',', "model", t.Model)
	}
	b = strconv.AppendInt(append(b, tokUsage), int64(t.Usage.Prompt), 10)
	b = append(strconv.AppendInt(append(b, tokCompletion), int64(t.Usage.Completion), 10), '}')
	if b, err = appendTimings(append(b, tokTimings), t.Timings); err != nil {
		return nil, err
	}
	if len(t.Metadata) > 0 {
		if b, err = e.appendMarshal(append(b, `,"metadata":`...), &t.Metadata); err != nil {
			return nil, err
		}
	}
	if len(t.Deltas) > 0 {
		b = appendStrings(append(b, `,"deltas":`...), t.Deltas)
	}
	b = strconv.AppendInt(append(b, tokLatency), t.LatencyMS, 10)
	if b, err = appendCreatedAt(b, t.CreatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendExplanation appends what json.Marshal returns for x but what
// nameExplanation stands for, which b ends with.
func (e *encoder) appendExplanation(b []byte, x *domain.Explanation) ([]byte, error) {
	b = appendRetrieval(b, &x.Retrieval)
	b, err := appendCandidates(appendName(b, nameCandidates), x.Candidates)
	if err != nil {
		return nil, err
	}
	if len(x.Filtered) > 0 {
		if b, err = e.appendMarshal(append(b, `,"filtered":`...), &x.Filtered); err != nil {
			return nil, err
		}
	}
	if b, err = appendMatches(appendName(b, nameMatched), x.Matched); err != nil {
		return nil, err
	}
	if b, err = e.appendScenario(appendName(b, nameScenario), &x.Scenario); err != nil {
		return nil, err
	}
	if len(x.ToolCalls) == 0 {
		b = appendEmpty(appendName(b, nameToolCalls), x.ToolCalls == nil)
	} else if b, err = e.appendMarshal(appendName(b, nameToolCalls), &x.ToolCalls); err != nil {
		return nil, err
	}
	g := &x.Generation
	b = domain.AppendJSONString(appendName(b, nameGeneration), g.Source)
	if g.TemplateID != "" {
		b = domain.AppendJSONString(appendName(b, nameTemplateID), g.TemplateID)
	}
	b = strconv.AppendInt(appendName(b, nameModelCalls), int64(g.ModelCalls), 10)
	if b, err = e.appendEnforcement(appendName(b, nameEnforcement), &x.Enforcement); err != nil {
		return nil, err
	}
	if len(x.Variables) > 0 {
		if b, err = e.appendMarshal(append(b, `,"variables":`...), &x.Variables); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendRetrieval appends what json.Marshal returns for r after its
// mode's name (see nameExplanation), but its closing brace (see
// nameCandidates).
func appendRetrieval(b []byte, r *domain.Retrieval) []byte {
	b = domain.AppendJSONString(b, r.Mode)
	if r.Note != "" {
		b = appendField(b, ',', "note", r.Note)
	}
	if j := r.Judge; j != nil {
		// By hand too: the rule judge runs on many turns of an agent
		// that has it, and the encoder cost as much as the rest of
		// the record's strings.
		b = appendList(append(b, `,"judge":{"asked":`...), j.Asked)
		b = appendList(append(b, `,"applicable":`...), j.Applicable)
		b = strconv.AppendBool(append(b, `,"used":`...), j.Used)
		if j.Reason != "" {
			b = appendField(b, ',', "reason", j.Reason)
		}
		b = append(b, '}')
	}
	if r.Deferred {
		b = appendName(b, nameDeferred)
	}
	if r.Context != "" {
		// By appendEscaped: the context holds a line break, which
		// AppendJSONString would have json.Marshal quote.
		b = appendEscaped(appendName(b, nameContext), r.Context)
	}
	return b
}

// appendList appends what json.Marshal returns for list.
func appendList(b []byte, list []string) []byte {
	if len(list) == 0 {
		return appendEmpty(b, list == nil)
	}
	return appendStrings(b, list)
}

// appendEnforcement appends what json.Marshal returns for x: by hand
// without violations, as most turns have it, else by encoding/json.
func (e *encoder) appendEnforcement(b []byte, x *domain.Enforcement) ([]byte, error) {
	if len(x.Violations) > 0 {
		return e.appendMarshal(b, x)
	}
	b = appendName(b, nameRules)
	if len(x.Rules) > 0 {
		b = appendStrings(b, x.Rules)
	} else {
		b = appendEmpty(b, x.Rules == nil)
	}
	b = appendEmpty(appendName(b, nameViolations), x.Violations == nil)
	b = strconv.AppendInt(appendName(b, nameRegenerations), int64(x.Regenerations), 10)
	b = strconv.AppendBool(appendName(b, nameFallback), x.Fallback)
	return append(strconv.AppendBool(appendName(b, nameRefused), x.Refused), '}'), nil
}

// appendEmpty appends what json.Marshal returns for an empty list, nil
// or not.
func appendEmpty(b []byte, isNil bool) []byte {
	if isNil {
		return append(b, "null"...)
	}
	return append(b, "[]"...)
}

// appendScenario appends what json.Marshal returns for d after its
// action's name (see nameScenario).
func (e *encoder) appendScenario(b []byte, d *domain.ScenarioDecision) ([]byte, error) {
	b = domain.AppendJSONString(b, d.Action)
	b = appendRef(appendName(b, nameBefore), d.Before)
	b = appendRef(appendName(b, nameAfter), d.After)
	var err error
	if d.Transition != nil {
		if b, err = e.appendMarshal(append(b, `,"transition":`...), d.Transition); err != nil {
			return nil, err
		}
	}
	if d.Score != 0 {
		if b, err = appendFloatToken(b, tokScore, d.Score); err != nil {
			return nil, err
		}
	}
	if d.Reason != "" {
		b = domain.AppendJSONString(append(b, tokReason), d.Reason)
	}
	if len(d.Options) > 0 {
		if b, err = appendOptions(appendName(b, nameOptions), d.Options); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]struct{ name, value string }{{"digression", d.Digression}, {"command", d.Command}, {"reask", d.Reask}} {
		if f.value != "" {
			b = appendField(b, ',', f.name, f.value)
		}
	}
	if d.Resumed != nil {
		b = appendRef(append(b, `,"resumed":`...), d.Resumed)
	}
	if len(d.Passed) > 0 {
		b = appendStrings(append(b, `,"passed":`...), d.Passed)
	}
	return append(b, '}'), nil
}

// appendCandidates appends what json.Marshal returns for candidates, written with
// tokens.
func appendCandidates(b []byte, candidates []domain.RuleCandidate) ([]byte, error) {
	if candidates == nil {
		return append(b, "null"...), nil
	}
	var err error
	for i := range candidates {
		c := &candidates[i]
		b = domain.AppendJSONString(append(b, "[,"[min(i, 1)], tokRuleID), c.RuleID)
		if b, err = appendScores(b, c.Score, c.Lexical, c.Semantic); err != nil {
			return nil, err
		}
		if c.Example != "" {
			b = domain.AppendJSONString(append(b, tokExample), c.Example)
		}
		if len(c.Terms) > 0 {
			b = appendStrings(append(b, tokTerms), c.Terms)
		}
		b = strconv.AppendInt(append(b, tokPriority), int64(c.Priority), 10)
		matched := byte(tokUnmatched)
		if c.Matched {
			matched = tokMatched
		}
		b = append(b, matched)
	}
	return closeList(b, len(candidates)), nil
}

// appendOptions appends what json.Marshal returns for options, written with
// tokens.
func appendOptions(b []byte, options []domain.ScenarioOption) ([]byte, error) {
	var err error
	for i := range options {
		o := &options[i]
		b = domain.AppendJSONString(append(b, "[,"[min(i, 1)], tokMove), o.Move)
		if o.Target != "" {
			b = domain.AppendJSONString(append(b, tokTarget), o.Target)
		}
		if b, err = appendScores(b, o.Score, o.Lexical, o.Semantic); err != nil {
			return nil, err
		}
		if o.Example != "" {
			b = domain.AppendJSONString(append(b, tokExample), o.Example)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendScores appends the score, lexical and semantic members a
// candidate and an option have, semantic only when it is not 0, as
// tokens (see audit_tokens.go).
func appendScores(b []byte, score, lexical, semantic float64) ([]byte, error) {
	b, err := appendFloatToken(b, tokScore, score)
	if err != nil {
		return nil, err
	}
	if math.Float64bits(lexical) == math.Float64bits(score) {
		// The commonest case (no semantic score).
		b = append(b, tokLexicalSame)
	} else if b, err = appendFloatToken(b, tokLexical, lexical); err != nil {
		return nil, err
	}
	if semantic != 0 {
		return appendFloatToken(b, tokSemantic, semantic)
	}
	return b, nil
}

// appendMatches appends what json.Marshal returns for matches, written with
// tokens.
func appendMatches(b []byte, matches []domain.RuleMatch) ([]byte, error) {
	if matches == nil {
		return append(b, "null"...), nil
	}
	var err error
	for i := range matches {
		m := &matches[i]
		b = domain.AppendJSONString(append(b, "[,"[min(i, 1)], tokRuleID), m.RuleID)
		if b, err = appendFloatToken(b, tokScore, m.Score); err != nil {
			return nil, err
		}
		b = append(domain.AppendJSONString(append(b, tokReason), m.Reason), '}')
	}
	return closeList(b, len(matches)), nil
}

// appendTimings appends what json.Marshal returns for timings, written with
// tokens.
func appendTimings(b []byte, timings []domain.StepTiming) ([]byte, error) {
	if timings == nil {
		return append(b, "null"...), nil
	}
	var err error
	for i, t := range timings {
		b = appendStep(append(b, "[,"[min(i, 1)]), t.Step)
		if b, err = appendFloat(append(b, tokDuration), t.DurationMS); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	return closeList(b, len(timings)), nil
}

// closeList ends a list of n elements, which appended none but their own
// bytes: "[]" when it is empty.
func closeList(b []byte, n int) []byte {
	if n == 0 {
		return append(b, "[]"...)
	}
	return append(b, ']')
}

// appendRef appends what json.Marshal returns for ref.
func appendRef(b []byte, ref *domain.ScenarioRef) []byte {
	if ref == nil {
		return append(b, "null"...)
	}
	b = domain.AppendJSONString(appendName(b, nameRefID), ref.ID)
	return append(domain.AppendJSONString(appendName(b, nameRefStep), ref.Step), '}')
}

// appendStrings appends what json.Marshal returns for a non-empty list.
func appendStrings(b []byte, list []string) []byte {
	for i, s := range list {
		b = domain.AppendJSONString(append(b, "[,"[min(i, 1)]), s)
	}
	return append(b, ']')
}

// appendField appends sep, then name and value as a JSON object's member.
func appendField(b []byte, sep byte, name, value string) []byte {
	b = append(append(append(b, sep, '"'), name...), '"', ':')
	return domain.AppendJSONString(b, value)
}

// appendCreatedAt appends tokCreatedAt and t: as tokTime and t's Unix
// seconds and nanoseconds (12 bytes) when it is written in UTC (zone
// offset 0, as the service's clock reads) and its year has four digits,
// which expandAudit writes as appendTime does, else as appendTime writes
// it. The text was 32 bytes of every record, and formatting it most of
// what writing it cost.
func appendCreatedAt(b []byte, t time.Time) ([]byte, error) {
	b = append(b, tokCreatedAt)
	sec := t.Unix()
	if _, offset := t.Zone(); offset != 0 || sec < firstYear0 || sec >= firstYear10000 {
		return appendTime(b, t)
	}
	b = binary.LittleEndian.AppendUint64(append(b, tokTime), uint64(sec))
	return binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond())), nil
}

// firstYear0 and firstYear10000 are the first seconds of the years 0 and
// 10000 in UTC: json.Marshal writes the years between.
var (
	firstYear0     = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	firstYear10000 = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
)

// appendTime appends what json.Marshal returns for t.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	// AppendText writes what MarshalJSON writes between the quotes, and
	// fails where it fails.
	b, err := t.AppendText(append(b, '"'))
	return append(b, '"'), err
}

// appendMarshal appends what json.Marshal returns for v, by the encoder's
// json.Encoder (no allocation). v points into the record, as when
// encoding/json encodes the whole of it.
func (e *encoder) appendMarshal(b []byte, v any) ([]byte, error) {
	e.json.Reset()
	if err := e.to.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(e.json.Bytes(), []byte("\n"))...), nil
}

// appendFloat appends f as encoding/json writes a float64, and fails for
// NaN and infinities, as it does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errNoJSONForm
	}
	if out, ok := appendMillis(b, f); ok {
		return out, nil
	}
	if a := math.Abs(f); a >= 1e-6 && a < 1 {
		if out, ok := appendFraction(b, f); ok {
			return out, nil
		}
	}
	return appendFloatSlow(b, f), nil
}

// appendMillis appends f, when it is a whole number of thousandths (as a
// step's milliseconds are, to the microsecond), as strconv's shortest
// form does, without it: most of a record's floats, and formatting is
// most of what a float costs. It reports false, appending nothing, for
// any other f.
//
// Why the bytes are strconv's: let |f| < 2^39, f != 0, and n an integer
// with f == float64(n)/1000. IEEE division rounds n/1000 correctly, as
// parsing the decimal d = n/1000 does, so d reads back as f; and any
// decimal s that reads back as f lies within half a spacing of it, as d
// does, so |s-d| is under one spacing of floats near f, under 2^-14 <
// 1e-4. An s with no digit past the thousandths is then d (two such
// numbers differ by 1e-3 at least); an s with one past them has at least
// as many significant digits as d (its leading digit is at most one
// place lower, since |d| >= 1e-3), as many only if d = 0.001 and s is a
// multiple of 1e-4 in (0.0009, 0.001), of which there is none. So d is
// the shortest decimal that reads back as f, the one strconv writes, in
// 'f' form below 1e21, without trailing zeros.
func appendMillis(b []byte, f float64) ([]byte, bool) {
	if math.Float64bits(f) == 0 {
		return append(b, '0'), true
	}
	if f == 0 || math.Abs(f) >= 1<<39 {
		return b, false
	}
	// n is f's nearest whole thousandths if any are f: the test is exact.
	n := int64(f*1000 + math.Copysign(0.5, f))
	if float64(n)/1000 != f {
		return b, false
	}
	if n < 0 {
		b, n = append(b, '-'), -n
	}
	b = strconv.AppendInt(b, n/1000, 10)
	frac := n % 1000
	if frac == 0 {
		return b, true
	}
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	return b, true
}

// appendFloatSlow is appendFloat by strconv, for a finite f.
func appendFloatSlow(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		// e-07 is written e-7.
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}
