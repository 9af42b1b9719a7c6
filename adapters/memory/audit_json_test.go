package memory

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
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

// A float written as whole thousandths is strconv's shortest form byte for
// byte: over thousandths of every size up to where the shortcut stops and
// past it, their neighbours, and random bits; and every step timing as
// the pipeline makes them (microseconds over 1000) takes the shortcut.
func TestMillisAreStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	floats := []float64{0, math.Copysign(0, -1), 0.001, -0.001, 0.009, 0.01, 0.1, 1, 210.965, 0.079, 999.999, 1000, 1e9 + 0.5,
		1 << 39, -(1 << 39), 1<<39 - 0.001, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-7, 1e21}
	for range 60000 {
		for _, n := range []int64{rng.Int64N(1 << 50), rng.Int64N(1<<39*1000+1<<40) - (1<<39*1000)/2, int64(rng.Uint64()) >> rng.IntN(64)} {
			f := float64(n) / 1000
			floats = append(floats, f, -f, math.Nextafter(f, math.Inf(1)), math.Nextafter(f, math.Inf(-1)), f*1000)
		}
		floats = append(floats, math.Float64frombits(rng.Uint64()))
	}
	taken := 0
	for _, f := range floats {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got, ok := appendMillis([]byte("x"), f)
		if !ok {
			require.Equal(t, "x", string(got), "nothing appended for %v", f)
			continue
		}
		require.Equal(t, string(appendFloatSlow([]byte("x"), f)), string(got), "%v (%x)", f, math.Float64bits(f))
		taken++
	}
	t.Logf("%d of %d floats written as thousandths", taken, len(floats))
	for range 50000 {
		f := float64(rng.Int64N(1_000_000_000)) / 1000 // up to 1,000 s
		got, ok := appendMillis(nil, f)
		require.True(t, ok, "%v", f)
		require.Equal(t, string(appendFloatSlow(nil, f)), string(got), "%v", f)
	}
}

// A float between 1e-6 and 1 written by appendFraction (Schubfach) is
// strconv's 'f' form byte for byte: over uniform and log-uniform draws,
// ratios as scores are, decimals of every length, powers of two, the ends
// of the range and their neighbours, negated too.
func TestFractionsAreStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	floats := []float64{1e-6, 0.1, 0.5, 0.9999999999999999, 1e-5, 0.000123, 1.0 / 3}
	for _, f := range []float64{1e-6, 1} {
		floats = append(floats, math.Nextafter(f, 0), math.Nextafter(f, 2))
	}
	// Powers of two, whose float below is nearer than the one above (a
	// case of its own in Schubfach), and their neighbours.
	for p := 1; p <= 20; p++ {
		f := math.Ldexp(1, -p)
		floats = append(floats, f, math.Nextafter(f, 0), math.Nextafter(f, 1))
	}
	// Decimals of every length up to 17 digits, whose shortest form may
	// be a digit shorter than Schubfach's first guess, and their
	// neighbours.
	for m := 1; m <= 17; m++ {
		for range 3000 {
			f := float64(rng.Int64N(int64(math.Pow10(m)))) / math.Pow10(m)
			floats = append(floats, f, math.Nextafter(f, 0), math.Nextafter(f, 1))
		}
	}
	for range 100000 {
		floats = append(floats, rng.Float64(), math.Pow(10, -6*rng.Float64()), float64(rng.IntN(1000))/float64(1+rng.IntN(100000)),
			math.Float64frombits(rng.Uint64N(math.Float64bits(1)-math.Float64bits(1e-6))+math.Float64bits(1e-6)))
	}
	taken := 0
	for _, f := range floats {
		for _, f := range []float64{f, -f} {
			if a := math.Abs(f); a < 1e-6 || a >= 1 {
				continue
			}
			got, ok := appendFraction([]byte("x"), f)
			require.True(t, ok, "%v", f)
			require.Equal(t, string(appendFloatSlow([]byte("x"), f)), string(got), "%v (%x)", f, math.Float64bits(f))
			taken++
		}
	}
	require.Greater(t, taken, 900000)
}

// putDigits writes strconv's digits: for every length, powers of ten and
// their neighbours, and random bits.
func TestPutDigitsIsStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	values := []uint64{0, 1, 9, math.MaxUint64}
	for p := uint64(1); p <= 1e19; p *= 10 {
		values = append(values, p-1, p, p+1)
	}
	for range 200000 {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	var buf [20]byte
	for _, d := range values {
		i := putDigits(&buf, d)
		require.Equal(t, strconv.FormatUint(d, 10), string(buf[i:]), "%d", d)
	}
}

// appendEscaped quotes a string as json.Marshal does, byte for byte: over
// strings drawn from pieces that need escaping or not (line breaks,
// quotes, control bytes, HTML characters, U+2028 and U+2029, other
// multi-byte runes, invalid and cut UTF-8), long runs of plain ones
// between, and over random bytes.
func TestEscapedIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pieces := []string{"a", "Find out when the card was ordered.", "\n", "\r\n", "\t", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f",
		"\b", "\f", "é", "€", "😀", "\u2028", "\u2029", "\u2027", "\xff", "\xe2\x80", "\xed\xa0\x80", " "}
	strs := []string{""}
	for range 20000 {
		var s []byte
		for range rng.IntN(40) {
			s = append(s, pieces[rng.IntN(len(pieces))]...)
		}
		strs = append(strs, string(s))
		raw := make([]byte, rng.IntN(40))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		strs = append(strs, string(raw))
	}
	for _, s := range strs {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendEscaped([]byte("x"), s)[1:]), "%q", s)
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
