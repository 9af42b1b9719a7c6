package alignment

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// sinkLog records, for every delta the sink received, how many model
// deltas had been streamed by then.
type sinkLog struct {
	deltas   []string
	streamed []int
}

func watchSink(h *harness) *sinkLog {
	l := &sinkLog{}
	h.onDelta = func(d string) {
		l.deltas = append(l.deltas, d)
		l.streamed = append(l.streamed, h.model.deltasStreamed())
	}
	return l
}

func TestReleaseSplitForbiddenPhraseNeverReachesSink(t *testing.T) {
	c := forbid("guaranteed refund")
	m := newFakeModel(
		say("Thanks for waiting, here is what we can do for you today. ", "We offer a guaran", "teed refund on it.", " More."),
		say("We will review your order."),
	)
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", c)), m)
	log := watchSink(h)
	r := h.run("refund?")

	assertSinkClean(t, r, c, nil)
	require.NotEmpty(t, log.deltas)
	assert.Less(t, log.streamed[0], 3, "safe text is released before the stream reaches the violation")
	prefix := log.deltas[0]
	assert.True(t, strings.HasPrefix("Thanks for waiting, here is what we can do for you today. We offer a ", prefix))

	stops := m.stopErrors()
	require.Len(t, stops, 1, "the violation stopped the model stream")
	_, isV := isViolation(stops[0])
	assert.True(t, isV)
	assert.Equal(t, 3, m.deltasStreamed()-1, "the delta after the violation was never streamed")

	released := strings.Join(log.deltas, "")
	assert.Equal(t, released, r.Response)
	assert.True(t, strings.HasPrefix(r.Response, prefix), "released text stays first")
	assert.True(t, strings.HasSuffix(r.Response, "We will review your order."), "the continuation follows it")
	retry := m.request(1).Messages
	assert.Contains(t, retry[len(retry)-1].Content, "already received the beginning")
	e := r.exp().Enforcement
	require.Len(t, e.Violations, 1)
	assert.Equal(t, "caught while streaming", e.Violations[0].Detail)
}

func TestReleaseContinuationCannotCompleteAPhraseStartedInReleasedText(t *testing.T) {
	// "Totally free" is released (what follows it is not "money"); the
	// first attempt then breaks the rule and the continuation starts with
	// " money": together they would say "free money".
	c := forbid("free money")
	m := newFakeModel(
		say("Totally free shipping", "! And free money."),
		say(" money back, always."),
		say("Let me check."),
	)
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", c)), m)
	p := h.policy
	p.Agent.Settings.MaxRegenerations = intp(2)
	r := h.run("money?")

	assertSinkClean(t, r, c, nil)
	assert.Len(t, r.exp().Enforcement.Violations, 2)
}

func TestReleasePreservesWhitespace(t *testing.T) {
	deltas := []string{"Line one.\n\n", "  Indented\tline ", "\n", "- item\r\n", "End.  "}
	m := newFakeModel(say(deltas...))
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", forbid("guaranteed refund"))), m)
	r := h.run("hi")
	assert.Equal(t, strings.Join(deltas, ""), r.Response)
	assert.Equal(t, strings.Join(deltas, ""), strings.Join(r.deltas, ""))
	assert.Greater(t, len(r.deltas), 1, "text is streamed, not released at once")
}

func TestReleaseWithoutConstraintsStreamsEveryDelta(t *testing.T) {
	deltas := []string{"One ", "two ", "three."}
	h := newHarness(t, testPolicy(), newFakeModel(say(deltas...)))
	log := watchSink(h)
	r := h.run("count")
	assert.Equal(t, deltas, r.deltas)
	assert.Equal(t, []int{1, 2, 3}, log.streamed, "each delta is released as it arrives")
}

func TestReleaseWaitsForWholeTextConstraints(t *testing.T) {
	for _, c := range []domain.Constraint{
		{Kind: domain.ConstraintRequirePhrase, Value: "have a nice day"},
		{Kind: domain.ConstraintExpression, Value: "reply.max_amount <= 100"},
		{Kind: domain.ConstraintForbidPattern, Value: `refund.*guaranteed`}, // unbounded
	} {
		t.Run(string(c.Kind), func(t *testing.T) {
			deltas := []string{"Thanks for your patience. ", "Your $20 credit is ready. ", "Have a nice day!"}
			m := newFakeModel(say(deltas...))
			h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", forbid("guaranteed refund"), c)), m)
			log := watchSink(h)
			r := h.run("credit?")

			assert.Equal(t, strings.Join(deltas, ""), r.Response)
			require.NotEmpty(t, log.streamed)
			assert.Equal(t, len(deltas), log.streamed[0], "nothing is released before the reply is whole")
		})
	}
}

func TestReleaseBoundedPatternStreams(t *testing.T) {
	c := domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\b\d{4}-\d{4}\b`}
	m := newFakeModel(say("Your code is on its way to you by email. ", "Call us at 1234-", "5678 if needed."), say("Please check your email."))
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", c)), m)
	log := watchSink(h)
	r := h.run("code?")

	assertSinkClean(t, r, c, nil)
	require.NotEmpty(t, log.streamed)
	assert.Less(t, log.streamed[0], 3, "a bounded pattern holds back only a short tail")
	assert.NotContains(t, r.Response, "1234-")
}

// A pattern with word boundaries is judged with the text around it: "cat"
// inside "concatenate" is no violation, even when the deltas cut the word
// right before or after it.
func TestReleaseJudgesWordBoundariesWithContext(t *testing.T) {
	c, err := domain.PrepareConstraint("r", domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\bcat\b`})
	require.NoError(t, err)
	var got []string
	rel := newReleaser(func(d string) error { got = append(got, d); return nil }, []domain.CheckedConstraint{c})
	rel.begin()
	for _, d := range []string{"We can con", "c", "a", "t", "enate the files", " for you."} {
		require.NoError(t, rel.write(d))
	}
	require.NoError(t, rel.finish())
	assert.Equal(t, "We can concatenate the files for you.", strings.Join(got, ""))

	rel = newReleaser(func(string) error { return nil }, []domain.CheckedConstraint{c})
	rel.begin()
	require.NoError(t, rel.write("Feed the ca"))
	require.NoError(t, rel.write("t"), "not yet conclusive: \"catalog\" may follow")
	_, isViolation := isViolation(rel.write(" now"))
	assert.True(t, isViolation, "\"cat \" is a violation")
}

// releasedText is everything the sink was sent, whatever mix of whole
// texts and streamed attempts (some stopped by a violation) released it:
// a text released alone is kept as it is, and one released after it is
// joined to it.
func TestReleasedTextIsWhatTheSinkWasSent(t *testing.T) {
	free, err := domain.PrepareConstraint("r", forbid("free money"))
	require.NoError(t, err)
	pieces := []string{"", "Totally free", " money", " shipping", "!", "Hello.", " ", "free", "é€ ", "money back."}
	rng := rand.New(rand.NewPCG(7, 14))
	for round := range 2000 {
		var sent strings.Builder
		var enforced []domain.CheckedConstraint
		if round%2 == 1 {
			enforced = []domain.CheckedConstraint{free}
		}
		rel := newReleaser(func(d string) error { sent.WriteString(d); return nil }, enforced)
		for range 1 + rng.IntN(4) {
			if rng.IntN(2) == 0 {
				require.NoError(t, rel.releaseText(pieces[rng.IntN(len(pieces))]))
			} else {
				rel.begin()
				rel.reserve()
				stopped := false
				for range rng.IntN(4) {
					if _, v := isViolation(rel.write(pieces[rng.IntN(len(pieces))])); v {
						stopped = true
						break
					}
				}
				if !stopped {
					if err := rel.finish(); err != nil {
						_, v := isViolation(err)
						require.True(t, v, "only a violation stops an attempt: %v", err)
					}
				}
			}
			require.Equal(t, sent.String(), rel.releasedText(), "round %d", round)
		}
	}
}

// A continuation is checked as the client reads it, after the text already
// released: a pattern anchored at the start of the reply does not match at
// the start of the continuation, so it is accepted as it is.
func TestContinuationIsCheckedAfterTheReleasedText(t *testing.T) {
	phrase := forbid("guaranteed refund")
	opening := domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `^sorry`}
	m := newFakeModel(
		say("Thanks for waiting. ", "We offer a guaran", "teed refund."),
		say("sorry, we will review your order."),
	)
	h := newHarness(t, testPolicy(hardRule("policy", "unrelated condition", phrase, opening)), m)
	r := h.run("refund?")

	assert.True(t, strings.HasPrefix(r.Response, "Thanks for waiting. "), r.Response)
	assert.True(t, strings.HasSuffix(r.Response, "sorry, we will review your order."), r.Response)
	e := r.exp().Enforcement
	require.Len(t, e.Violations, 1, "only the first attempt broke a rule")
	assert.Equal(t, phrase.Value, e.Violations[0].Value)
	assert.False(t, e.Fallback)
	assert.False(t, e.Refused)
}
