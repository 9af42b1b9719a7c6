package evaluation

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func obs(expected []string, matched []string, top string, topScore, runnerUp float64) Observation {
	return Observation{Expected: expected, Matched: matched, Top: top, TopScore: topScore, RunnerUpScore: runnerUp, Scenario: "none"}
}

func TestScoreCountsWhatWasDecided(t *testing.T) {
	o := []Observation{
		obs([]string{"hours"}, []string{"hours"}, "hours", 0.9, 0.1),                                                 // right
		obs([]string{"hours"}, []string{}, "hours", 0.4, 0.1),                                                        // right best, under the threshold
		obs([]string{"refund"}, []string{"hours"}, "hours", 0.7, 0.2),                                                // wrong
		obs([]string{}, []string{}, "hours", 0.2, 0.1),                                                               // out of scope, right
		obs([]string{}, []string{"refund"}, "refund", 0.6, 0.1),                                                      // out of scope, wrong
		obs([]string{"a", "b"}, []string{"b", "a"}, "a", 0.8, 0.8),                                                   // two rules, right
		{Expected: []string{}, Matched: []string{}, ExpectedScenario: "returns/ask", Scenario: "none", Kind: "flow"}, // wrong step
	}
	o[0].Kind, o[1].Kind = "paraphrase", "paraphrase"
	for i := range o {
		o[i].MatchingMicros = float64(70 - 10*i)
	}
	r := Score(o)
	assert.Equal(t, 7, r.Turns)
	assert.Equal(t, 3, r.ExactlyRight)
	assert.Equal(t, 3, r.SingleLabel)
	assert.Equal(t, 2, r.TopRight)
	assert.InDelta(t, 2.0/3, r.Accuracy(), 1e-9)
	assert.Equal(t, 3, r.OutOfScope)
	assert.Equal(t, 2, r.OutOfScopeRight)
	assert.Equal(t, []KindScore{{"flow", 1, 0}, {"paraphrase", 2, 1}}, r.Kinds)
	assert.Equal(t, Confusion{Expected: "hours", Got: "none", Count: 1}, r.Confusions[0])
	assert.Contains(t, r.Confusions, Confusion{Expected: "none @ returns/ask", Got: "none @ none", Count: 1},
		"a turn with the right rules in the wrong step names the steps")
	assert.Equal(t, []Confusion{{Expected: "refund", Got: "hours", Count: 1}}, r.TopConfusions)
	// F1 per rule: hours 2·1/(2+1+1), refund 0 (one fn, one fp), a 1, b 1.
	assert.InDelta(t, (0.5+0+1+1)/4, r.MacroF1, 1e-9)
	assert.Equal(t, Timing{MedianMicros: 40, P95Micros: 70, MeanMicros: 40}, r.Matching)
	assert.Len(t, r.Misses, 4)
}

func TestSweepReplaysOtherThresholds(t *testing.T) {
	r := Score([]Observation{
		obs([]string{"hours"}, []string{"hours"}, "hours", 0.55, 0.1),
		obs([]string{"hours"}, []string{}, "hours", 0.35, 0.1),
		obs([]string{}, []string{}, "refund", 0.45, 0.1),
	})
	at := map[float64]ThresholdPoint{}
	for _, pt := range r.Sweep {
		at[pt.Threshold] = pt
	}
	assert.Equal(t, ThresholdPoint{0.3, 1, 0}, at[0.3])
	assert.Equal(t, ThresholdPoint{0.4, 0.5, 0}, at[0.4])
	assert.Equal(t, ThresholdPoint{0.5, 0.5, 1}, at[0.5])
	assert.Equal(t, ThresholdPoint{0.6, 0, 1}, at[0.6])
}

// runs is a make eval whose every figure is given.
func runs(accFew, accSome, accAll, demo float64, negations, small, large, compile float64) map[string]*Result {
	acc := func(a float64) *Result {
		return &Result{Turns: 1000, SingleLabel: 1000, TopRight: int(a * 1000), CompileMS: 100}
	}
	d := &Result{Turns: 100, ExactlyRight: int(demo * 100), Kinds: []KindScore{{Kind: NegationKind, Turns: 10, Right: int(negations * 10)}}}
	all := acc(accAll)
	all.CompileMS = compile
	return map[string]*Result{
		RunBanking77Few: acc(accFew), RunBanking77Some: acc(accSome), RunBanking77All: all, RunDemo: d,
		RunScaleSmall: {Turns: 10, Matching: Timing{MedianMicros: small}}, RunScaleLarge: {Turns: 10, Matching: Timing{MedianMicros: large}},
	}
}

func verdicts(t *testing.T, rs map[string]*Result) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tg := range Targets(rs) {
		out[tg.What] = tg.Verdict
	}
	require.Len(t, out, 8)
	return out
}

func TestTargetsAreJudgedOnTheRun(t *testing.T) {
	for what, v := range verdicts(t, runs(0.80, 0.85, 0.93, 0.95, 1, 80, 900, 800)) {
		assert.Equal(t, "met", v, what)
	}
	for what, v := range verdicts(t, runs(0.70, 0.69, 0.90, 0.85, 0.9, 150, 1500, 1500)) {
		assert.Equal(t, "not met", v, what)
	}
	for what, v := range verdicts(t, map[string]*Result{}) {
		assert.Equal(t, "not measured", v, what)
	}
}

// A run that misses a target cannot print "met" for it, whatever else it
// gets right.
func TestReportCannotCallAMissedTargetMet(t *testing.T) {
	rs := runs(0.80, 0.85, 0.93, 0.95, 1, 80, 900, 800)
	rs[RunBanking77Few].TopRight = 749 // 74.9 %
	var b strings.Builder
	require.NoError(t, WriteReport(&b, rs, "on a test"))
	row := ""
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "| Banking77, 10 examples per rule") {
			row = line
		}
	}
	require.NotEmpty(t, row, b.String())
	assert.True(t, strings.HasSuffix(row, "| 74.9 % | not met |"), row)
	assert.NotContains(t, strings.ReplaceAll(row, "not met", ""), "met")
	assert.Contains(t, b.String(), "| Banking77, all training examples: top-1 accuracy | ≥ 91 % | 93.0 % | met |")
}

func TestParseDataset(t *testing.T) {
	ds, err := ParseDataset("data.csv", []byte("text,category\nwhere is my card,card_arrival\nwhat is the weather,\n"))
	require.NoError(t, err)
	require.Len(t, ds.Conversations, 2)
	assert.Equal(t, []string{"card_arrival"}, ds.Conversations[0].Turns[0].Rules)
	assert.True(t, ds.Conversations[1].Turns[0].OutOfScope())

	ds, err = ParseDataset("set.yaml", []byte("name: x\nconversations:\n  - kind: negation\n    turns:\n      - {user: hi, rules: [greeting], scenario: none}\n"))
	require.NoError(t, err)
	assert.Equal(t, Turn{User: "hi", Rules: []string{"greeting"}, Scenario: "none"}, ds.Conversations[0].Turns[0])

	for name, data := range map[string]string{
		"misspelt.yaml": "conversations:\n  - turns:\n      - {user: hi, rule: [greeting]}\n",
		"empty.yaml":    "name: nothing\n",
		"blank.yaml":    "conversations:\n  - turns:\n      - {user: '  '}\n",
		"noheader.csv":  "where is my card,card_arrival\n",
		"blank.csv":     "text,category\n   ,card_arrival\n",
	} {
		_, err := ParseDataset(name, []byte(data))
		assert.Error(t, err, name)
	}
}

// The longest messages' runs are rows of the scale table, their count
// read from the run; without them the table has no such rows.
func TestReportShowsTheLongestMessagesRuns(t *testing.T) {
	rs := runs(0.80, 0.85, 0.93, 0.95, 1, 80, 900, 800)
	var b strings.Builder
	require.NoError(t, WriteReport(&b, rs, "on a test"))
	assert.NotContains(t, b.String(), "-long")
	rs[RunScaleSmallLong] = &Result{Turns: 11, Rules: 150, Matching: Timing{MedianMicros: 5794, P95Micros: 7902, MeanMicros: 4992}}
	rs[RunScaleLargeLong] = &Result{Turns: 11, Rules: 10000, Matching: Timing{MedianMicros: 6142, P95Micros: 8936, MeanMicros: 6354}}
	b.Reset()
	require.NoError(t, WriteReport(&b, rs, "on a test"))
	assert.Contains(t, b.String(), "| scale-150-long | 150 | 0 | 0.00 s | 5794 µs | 7902 µs | 4992 µs |")
	assert.Contains(t, b.String(), "| scale-10000-long | 10000 | 0 | 0.00 s | 6142 µs | 8936 µs | 6354 µs |")
	assert.Contains(t, b.String(), "send the same rules 11 messages of the longest length")
}
