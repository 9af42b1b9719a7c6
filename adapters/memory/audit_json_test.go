package memory

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// fillAll sets every exported field v holds, recursively, to something
// json.Marshal writes (two elements a slice, a map with a "candidates" key
// among others), so that a field added to domain.Turn shows in its JSON.
func fillAll(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(`<"candidates":null> & é ` + v.Type().Name())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.25e-7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		if depth < 6 {
			v.Set(reflect.New(v.Type().Elem()))
			fillAll(v.Elem(), depth+1)
		}
	case reflect.Slice:
		if depth < 6 {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range 2 {
				fillAll(v.Index(i), depth+1)
			}
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"candidates", "other"} {
			val := reflect.New(v.Type().Elem()).Elem()
			if k == "other" {
				fillAll(val, depth+1)
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), val)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 1, 2, 3, 4, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), depth+1)
			}
		}
	}
}

// requireAuditIsMarshal checks that what encodeAudit keeps of turn, with
// the strings a store keeps beside it, is json.Marshal's bytes for turn
// without SessionAfter, the agent left out or not.
func requireAuditIsMarshal(t *testing.T, enc *encoder, turn *domain.Turn, what string) {
	t.Helper()
	rec := *turn
	rec.SessionAfter = nil
	want, err := json.Marshal(&rec)
	require.NoError(t, err, what)
	for _, sessionAgent := range []bool{true, false} {
		got, err := enc.encodeAudit(turn, sessionAgent)
		require.NoError(t, err, what)
		var raw json.RawMessage
		require.NoError(t, decodeAudit(got, keptOf(turn), &raw), what)
		require.Equal(t, string(want), string(raw), what)
	}
}

// keptOf is what a store keeps of turn beside its audit record (see
// keptStrings), its session taken to be of the turn's agent.
func keptOf(turn *domain.Turn) *keptStrings {
	var kept keptStrings
	kept[tokID], kept[tokMessage], kept[tokResponse], kept[tokStatus] = turn.ID, turn.Message, turn.Response, string(turn.Status)
	kept[tokTenantID], kept[tokSessionAgent], kept[tokSessionID] = turn.TenantID, turn.AgentID, turn.SessionID
	return &kept
}

// The audit record a store keeps, its candidates written by hand, is
// json.Marshal's bytes: for the bench agent's recorded turns, for a turn
// with every field of domain.Turn set (a field added to a candidate, or a
// map before the explanation, fails it), for candidates with scores
// written in exponent form, escaped strings and no optional fields.
func TestAuditJSONIsMarshal(t *testing.T) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	for i := range len(benchTurnsJSON()) {
		requireAuditIsMarshal(t, enc, recordedTurn(t, i), "recorded turn")
	}
	var full domain.Turn
	fillAll(reflect.ValueOf(&full).Elem(), 0)
	require.NotNil(t, full.SessionAfter)
	requireAuditIsMarshal(t, enc, &full, "every field set, SessionAfter left out")
	// The shape most turns have, written by hand: no rule judge, tool
	// calls or violations, every other field set (a field added to
	// Retrieval or Enforcement fails it).
	common := full
	common.Explanation.Retrieval.Judge = nil
	common.Explanation.Enforcement.Violations = nil
	for _, calls := range [][]domain.ToolCall{nil, {}} {
		common.Explanation.ToolCalls = calls
		requireAuditIsMarshal(t, enc, &common, "no judge, tool calls or violations")
	}
	common.Explanation.Enforcement.Violations = []domain.Violation{}
	common.Explanation.Enforcement.Rules = []string{}
	requireAuditIsMarshal(t, enc, &common, "no rules, empty violations")
	common.Explanation.Enforcement.Rules = nil
	common.Explanation.Retrieval.Note = ""
	requireAuditIsMarshal(t, enc, &common, "nil rules, no note")
	common.Explanation.Retrieval.Deferred, common.Explanation.Retrieval.Context = false, ""
	requireAuditIsMarshal(t, enc, &common, "explanation not deferred")
	// The rule judge's decision, written by hand too: every field set
	// (above), lists nil or empty, no reason, not used.
	for _, judge := range []domain.JudgeDecision{{}, {Asked: []string{}, Applicable: []string{}}, {Asked: []string{"r1"}, Used: true},
		{Applicable: []string{"a\n<b>", "é"}, Reason: "unusable: \"x\"\n"}} {
		common.Explanation.Retrieval.Judge = &judge
		requireAuditIsMarshal(t, enc, &common, "rule judge")
	}
	common.Explanation.Retrieval.Judge = nil
	odd := domain.Turn{Explanation: domain.NewExplanation()}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -2.5, 1e-7, 3e-6, 1e20, 1e21, 123456789e-15, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		odd.Explanation.Candidates = append(odd.Explanation.Candidates, domain.RuleCandidate{RuleID: "r\u2028\xff", Score: f, Lexical: -f, Semantic: f,
			Terms: []string{}, Example: "<b>"})
	}
	requireAuditIsMarshal(t, enc, &odd, "odd candidates")
	odd.Explanation.Candidates = []domain.RuleCandidate{}
	requireAuditIsMarshal(t, enc, &odd, "no candidates")
	requireAuditIsMarshal(t, enc, &domain.Turn{}, "zero")
	empty := domain.Turn{Timings: []domain.StepTiming{}, Deltas: []string{}, Metadata: map[string]any{}, Explanation: domain.Explanation{
		Matched: []domain.RuleMatch{}, Filtered: []domain.FilteredRule{}, Variables: []domain.Extraction{}, Scenario: domain.ScenarioDecision{Options: []domain.ScenarioOption{}}}}
	requireAuditIsMarshal(t, enc, &empty, "empty lists")
}

// A record with no JSON form (a NaN score, a time past year 9999) fails
// the encoding as json.Marshal fails.
func TestAuditWithoutJSONFormFails(t *testing.T) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	nan := domain.Turn{Explanation: domain.NewExplanation()}
	nan.Explanation.Candidates = []domain.RuleCandidate{{RuleID: "r", Score: math.NaN()}}
	late := domain.Turn{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	early := domain.Turn{CreatedAt: time.Date(0, 1, 1, 0, 0, 0, -1, time.UTC)}
	timing := domain.Turn{Timings: []domain.StepTiming{{Step: "x", DurationMS: math.Inf(1)}}}
	for _, turn := range []*domain.Turn{&nan, &late, &early, &timing} {
		_, err := json.Marshal(turn)
		require.Error(t, err)
		_, err = enc.encodeAudit(turn, true)
		require.Error(t, err)
	}
}

// A record longer than auditKeptWhole (a tool's big output) is kept
// compressed, a shorter one as it is; both read back as json.Marshal's
// bytes.
func TestLongAuditRecordIsCompressed(t *testing.T) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	short := recordedTurn(t, 0)
	got, err := enc.encodeAudit(short, true)
	require.NoError(t, err)
	require.LessOrEqual(t, len(got), auditKeptWhole, "a recorded turn's record is short")
	require.EqualValues(t, tokID, got[0], "kept as it is")
	requireAuditIsMarshal(t, enc, short, "short")

	long := *short
	long.Explanation.Retrieval.Context = strings.Repeat("Your order A-1042 ships from the Leeds warehouse tomorrow. ", 200)
	got, err = enc.encodeAudit(&long, true)
	require.NoError(t, err)
	require.EqualValues(t, auditCompressed, got[0], "kept compressed")
	require.Less(t, len(got), len(long.Explanation.Retrieval.Context)/4, "where compression pays")
	requireAuditIsMarshal(t, enc, &long, "long")
}
