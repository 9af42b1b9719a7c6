package domain_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// turnTime is a Wednesday.
var turnTime = time.Date(2025, time.January, 15, 10, 30, 0, 0, time.UTC)

// orderID is the demo agent's order number.
var orderID = domain.Variable{
	Name: "order_id", Type: domain.VarPattern, Description: "order number", Hint: "AC- followed by six digits",
	Pattern: `\bac[\s-]*(\d+)\b|\b(\d{6})\b`, Normalize: "AC-$1$2", Valid: `AC-\d{6}`, Changeable: true,
}

// returnReason is the demo agent's return reason, a fresh copy each call.
func returnReason() domain.Variable {
	return domain.Variable{
		Name: "reason", Type: domain.VarEnum, Description: "reason for the return", Changeable: true,
		Values: []domain.EnumValue{
			{Value: "wrong_size", Synonyms: []string{"too tight", "too small", "too big", "too large", "did not fit", "didn't fit", "doesn't fit"}},
			{Value: "damaged", Synonyms: []string{"broken zipper", "broken", "torn", "ripped", "defective", "stained"}},
			{Value: "changed_mind", Synonyms: []string{"changed my mind", "don't like it", "don't want it"}},
		},
	}
}

func num(f float64) *float64 { return &f }

// outcome is what an extractor made of a message: a value, a problem, or
// nothing.
type outcome struct {
	value   any
	text    string
	problem domain.ExtractProblem
	reason  string // a part of the reason
}

func extract(t *testing.T, v domain.Variable, msg string) (outcome, bool) {
	t.Helper()
	x, err := domain.NewExtractor(v)
	require.NoError(t, err)
	found, ok, err := x.Extract(msg, turnTime)
	if err != nil {
		var ee *domain.ExtractError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, v.Name, ee.Variable)
		return outcome{problem: ee.Problem, reason: ee.Reason, text: ee.Text}, ok
	}
	return outcome{value: found.Value, text: found.Text}, ok
}

type extractCase struct {
	msg  string
	want outcome // zero: the message does not mention the variable
}

func runExtractCases(t *testing.T, v domain.Variable, cases []extractCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.msg, func(t *testing.T) {
			got, ok := extract(t, v, tc.msg)
			if tc.want == (outcome{}) {
				assert.False(t, ok, "no mention expected, got %+v", got)
				return
			}
			require.True(t, ok, "a mention expected")
			assert.Equal(t, tc.want.problem, got.problem, "problem (%s)", got.reason)
			if tc.want.problem == "" {
				assert.Equal(t, tc.want.value, got.value)
				assert.Equal(t, tc.want.text, got.text, "the text the value came from")
			} else {
				assert.Contains(t, got.reason, tc.want.reason)
			}
		})
	}
}

func invalid(reason string) outcome { return outcome{problem: domain.ProblemInvalid, reason: reason} }
func ambiguous(reason string) outcome {
	return outcome{problem: domain.ProblemAmbiguous, reason: reason}
}

func TestPatternExtractor(t *testing.T) {
	runExtractCases(t, orderID, []extractCase{
		{"ac123456", outcome{value: "AC-123456", text: "ac123456"}},
		{"AC 123456", outcome{value: "AC-123456", text: "AC 123456"}},
		{"AC-123456", outcome{value: "AC-123456", text: "AC-123456"}},
		{"it's 123456", outcome{value: "AC-123456", text: "123456"}},
		{"My order is AC-123456, thanks!", outcome{value: "AC-123456", text: "AC-123456"}},
		{"AC-123456 — yes, AC-123456", outcome{value: "AC-123456", text: "AC-123456"}},
		{"AC-12345", invalid(`"AC-12345" is not a valid order number: AC- followed by six digits`)},
		{"ac 1234567", invalid(`"ac 1234567" is not a valid order number`)},
		{"AC-123456 and AC-654321", ambiguous(`more than one order number ("AC-123456", "AC-654321")`)},
		{"sorry, AC-12345 I mean AC-123456", outcome{value: "AC-123456", text: "AC-123456"}},
		// With no valid one, the first mention's problem is the one told.
		{"AC-12345, or was it AC-1234", invalid(`"AC-12345" is not a valid order number`)},
		{"I bought it in 2023", outcome{}},
		{"1234567", outcome{}},
		{"no idea", outcome{}},
	})
}

func TestEnumExtractor(t *testing.T) {
	runExtractCases(t, returnReason(), []extractCase{
		{"it was too tight", outcome{value: "wrong_size", text: "too tight"}},
		{"Too Tight around the shoulders", outcome{value: "wrong_size", text: "Too Tight"}},
		{"the zipper? broken zipper", outcome{value: "damaged", text: "broken zipper"}},
		{"it arrived torn", outcome{value: "damaged", text: "torn"}},
		{"the seams ripped", outcome{value: "damaged", text: "ripped"}},
		{"wrong size", outcome{value: "wrong_size", text: "wrong size"}},
		{"WRONG-SIZE", outcome{value: "wrong_size", text: "WRONG-SIZE"}},
		{"it didn't fit", outcome{value: "wrong_size", text: "didn't fit"}},
		{"both shoes were too smalls", outcome{value: "wrong_size", text: "too smalls"}},
		{"it's broken and too tight", ambiguous(`more than one reason for the return ("broken", "too tight")`)},
		{"not broken, just too tight", outcome{value: "wrong_size", text: "too tight"}},
		{"it's not broken but too tight", outcome{value: "wrong_size", text: "too tight"}}, // "but" starts a clause
		{"it's not at all too tight", outcome{}},                                           // three words from the negation
		{"it wasn't damaged", outcome{}},
		{"untorn", outcome{}},
		{"I'd like a refund", outcome{}},
	})
}

// Where two phrases overlap the longer wins, whichever was declared first.
func TestEnumLongerPhraseWins(t *testing.T) {
	refund := domain.Variable{Name: "refund_method", Type: domain.VarEnum, Description: "refund method", Values: []domain.EnumValue{
		{Value: "in_store", Synonyms: []string{"store"}},
		{Value: "store_credit", Synonyms: []string{"store credit"}},
	}}
	runExtractCases(t, refund, []extractCase{
		{"store credit please", outcome{value: "store_credit", text: "store credit"}},
		{"I'll bring it to the store", outcome{value: "in_store", text: "store"}},
	})
}

func TestBooleanExtractor(t *testing.T) {
	consent := domain.Variable{Name: "consent", Type: domain.VarBoolean, Description: "your consent"}
	runExtractCases(t, consent, []extractCase{
		{"Yes please", outcome{value: true, text: "Yes"}},
		{"yeah sure", outcome{value: true, text: "yeah"}},
		{"of course!", outcome{value: true, text: "of course"}},
		{"nope", outcome{value: false, text: "nope"}},
		{"not really", outcome{value: false, text: "not really"}},
		// agent-bundle.md (Variables): a bare "sure" or "no" is the whole answer.
		{"sure", outcome{value: true, text: "sure"}},
		{"no", outcome{value: false, text: "no"}},
		{"No.", outcome{value: false, text: "No"}},
		{"yes... no", ambiguous("more than one your consent")},
		{"I'm not sure", outcome{}},
		{"what?", outcome{}},
	})
}

func TestNumberExtractor(t *testing.T) {
	qty := domain.Variable{Name: "quantity", Type: domain.VarNumber, Description: "quantity", Min: num(1), Max: num(10)}
	runExtractCases(t, qty, []extractCase{
		{"3 please", outcome{value: 3.0, text: "3"}},
		{"I need two", outcome{value: 2.0, text: "two"}},
		{"2.5", outcome{value: 2.5, text: "2.5"}},
		{"2,5", outcome{value: 2.5, text: "2,5"}},
		{"15 of them", invalid(`"15" is not a valid quantity: it must be at most 10`)},
		{"0", invalid("it must be at least 1")},
		// min and max are allowed values themselves.
		{"1", outcome{value: 1.0, text: "1"}},
		{"10 please", outcome{value: 10.0, text: "10"}},
		{"3 or 4", ambiguous(`more than one quantity ("3", "4")`)},
		{"3, I said 3", outcome{value: 3.0, text: "3"}},
		{"order AC-123456 at 3pm", outcome{}},
		{"AC123456 2nd", outcome{}},
		{"none", outcome{}},
	})
	big := domain.Variable{Name: "n", Type: domain.VarNumber}
	runExtractCases(t, big, []extractCase{
		{"1,250", outcome{value: 1250.0, text: "1,250"}},
		{"1,234,567.5", outcome{value: 1234567.5, text: "1,234,567.5"}},
		{"1.234.567,5", outcome{value: 1234567.5, text: "1.234.567,5"}},
		{"1.000", ambiguous(`"1.000" could mean 1000 or 1`)},
		{"1,23,4", invalid(`"1,23,4" is not a valid n: it is not a number`)},
		{"1234,567", invalid("it is not a number")}, // a thousands group has at most three digits before it
		// A fraction or a date is no number of its own.
		{"see page 4/5", outcome{}},
		// Spelt out, a number is its words together: "two hundred" is 200,
		// not the 2 of its first word.
		{"two hundred", outcome{value: 200.0, text: "two hundred"}},
		{"twenty-five of them", outcome{value: 25.0, text: "twenty-five"}},
		{"about twenty five", outcome{value: 25.0, text: "twenty five"}},
		{"a thousand and one", outcome{value: 1001.0, text: "a thousand and one"}},
		{"three million", outcome{value: 3e6, text: "three million"}},
		{"one two", ambiguous(`more than one n ("one", "two")`)},
		{"a lot", outcome{}},
	})
}

func TestAmountExtractor(t *testing.T) {
	refund := domain.Variable{Name: "refund", Type: domain.VarAmount, Description: "refund amount", Currency: "EUR", Max: num(2000)}
	eur := func(v float64) map[string]any { return map[string]any{"value": v, "currency": "EUR"} }
	runExtractCases(t, refund, []extractCase{
		{"it cost €45", outcome{value: eur(45), text: "€45"}},
		{"fifty euros", outcome{value: eur(50), text: "fifty euros"}},
		{"a hundred euros", outcome{value: eur(100), text: "a hundred euros"}},
		{"EUR twenty-five", outcome{value: eur(25), text: "EUR twenty-five"}},
		{"one more thing: 30 euros", outcome{value: eur(30), text: "30 euros"}},
		{"45 EUR", outcome{value: eur(45), text: "45 EUR"}},
		{"eur 1.250,50", outcome{value: eur(1250.5), text: "eur 1.250,50"}},
		{"12,50 €", outcome{value: eur(12.5), text: "12,50 €"}},
		{"twenty euros? no, 20 euros", outcome{value: eur(20), text: "twenty euros"}},
		{"thirty euros? no, 20 euros", ambiguous(`more than one refund amount`)},
		{"I paid 45", outcome{value: eur(45), text: "45"}},
		{"2 shirts for 45 euros", outcome{value: eur(45), text: "45 euros"}},
		{"$45", invalid(`"$45" is not a valid refund amount: amounts are in EUR`)},
		{"£45", invalid(`"£45" is not a valid refund amount: amounts are in EUR`)},
		{"€9000", invalid("it must be at most 2000")},
		{"€2000", outcome{value: eur(2000), text: "€2000"}},
		{"€45 or €50", ambiguous(`more than one refund amount ("€45", "€50")`)},
		{"no money", outcome{}},
		{"€" + strings.Repeat("8", 400), invalid("it is too large a number")},
	})
	anyCurrency := domain.Variable{Name: "price", Type: domain.VarAmount}
	runExtractCases(t, anyCurrency, []extractCase{
		{"$1,200.50", outcome{value: map[string]any{"value": 1200.5, "currency": "USD"}, text: "$1,200.50"}},
		{"20 quid", outcome{value: map[string]any{"value": 20.0, "currency": "GBP"}, text: "20 quid"}},
		// agent-bundle.md (Variables): £ and ¥ are read like $ and €, before or after.
		{"£45.99", outcome{value: map[string]any{"value": 45.99, "currency": "GBP"}, text: "£45.99"}},
		{"¥1,200", outcome{value: map[string]any{"value": 1200.0, "currency": "JPY"}, text: "¥1,200"}},
		{"it was 800 ¥", outcome{value: map[string]any{"value": 800.0, "currency": "JPY"}, text: "800 ¥"}},
		{"30", outcome{value: map[string]any{"value": 30.0}, text: "30"}},
		// agent-bundle.md: a currency word is read after the number, not before.
		{"euros 20", outcome{value: map[string]any{"value": 20.0}, text: "20"}},
	})
}

func TestDateExtractor(t *testing.T) {
	when := domain.Variable{Name: "delivery_date", Type: domain.VarDate, Description: "delivery date"}
	runExtractCases(t, when, []extractCase{
		{"tomorrow", outcome{value: "2025-01-16", text: "tomorrow"}},
		{"Today", outcome{value: "2025-01-15", text: "Today"}},
		{"yesterday", outcome{value: "2025-01-14", text: "yesterday"}},
		{"the day after tomorrow", outcome{value: "2025-01-17", text: "the day after tomorrow"}},
		{"next friday", outcome{value: "2025-01-17", text: "next friday"}},
		{"on Wednesday", outcome{value: "2025-01-15", text: "on Wednesday"}},
		{"this friday", outcome{value: "2025-01-17", text: "this friday"}},
		{"friday", outcome{value: "2025-01-17", text: "friday"}},
		{"next wednesday", outcome{value: "2025-01-22", text: "next wednesday"}},
		{"last friday", outcome{value: "2025-01-10", text: "last friday"}},
		{"in 3 days", outcome{value: "2025-01-18", text: "in 3 days"}},
		{"two weeks ago", outcome{value: "2025-01-01", text: "two weeks ago"}},
		{"3 December", outcome{value: "2024-12-03", text: "3 December"}},
		{"on the 3rd of march", outcome{value: "2025-03-03", text: "3rd of march"}},
		{"Dec 24, 2025", outcome{value: "2025-12-24", text: "Dec 24, 2025"}},
		{"2025-02-28", outcome{value: "2025-02-28", text: "2025-02-28"}},
		{"25/03", outcome{value: "2025-03-25", text: "25/03"}},
		{"03/25/2025", outcome{value: "2025-03-25", text: "03/25/2025"}},
		{"24.12.2024", outcome{value: "2024-12-24", text: "24.12.2024"}},
		{"12/03", ambiguous(`"12/03" could mean 12 March or 3 December`)},
		{"5/5", outcome{value: "2025-05-05", text: "5/5"}}, // the same day either way
		{"24.12.24", outcome{value: "2024-12-24", text: "24.12.24"}},
		// A time after a date is not a second date ("March 10").
		{"5 March 10:30", outcome{value: "2025-03-05", text: "5 March"}},
		{"31 February", invalid(`"31 February" is not a valid delivery date: there is no such day`)},
		{"2025-13-01", invalid("there is no such day")},
		{"tomorrow or friday", ambiguous(`more than one delivery date ("tomorrow", "friday")`)},
		{"soon", outcome{}},
		{"it costs 12.50", outcome{}},
	})
	dmy := when
	dmy.DateOrder = domain.DateOrderDMY
	runExtractCases(t, dmy, []extractCase{{"12/03", outcome{value: "2025-03-12", text: "12/03"}}})
	mdy := when
	mdy.DateOrder = domain.DateOrderMDY
	runExtractCases(t, mdy, []extractCase{
		{"12/03", outcome{value: "2024-12-03", text: "12/03"}},
		{"25/03", invalid("there is no such day")},
	})
}

// A date is read on the turn's day where the agent is: near midnight that
// is not the day in UTC. A day without a year as near the turn's date one
// way as the other is the coming one.
func TestDatesAreReadOnTheAgentsDay(t *testing.T) {
	x, err := domain.NewExtractor(domain.Variable{Name: "delivery_date", Type: domain.VarDate})
	require.NoError(t, err)
	read := func(msg string, now time.Time) any {
		t.Helper()
		found, ok, err := x.Extract(msg, now)
		require.NoError(t, err)
		require.True(t, ok, msg)
		return found.Value
	}
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	lateEvening := time.Date(2025, time.January, 15, 23, 30, 0, 0, newYork) // 16 January in UTC
	assert.Equal(t, "2025-01-15", read("today", lateEvening))
	assert.Equal(t, "2025-01-16", read("tomorrow", lateEvening))

	// 1 March 2023 and 1 March 2024 are each 183 days from 31 August 2023.
	assert.Equal(t, "2024-03-01", read("1 March", time.Date(2023, time.August, 31, 12, 0, 0, 0, time.UTC)))
}

func TestEmailExtractor(t *testing.T) {
	email := domain.Variable{Name: "email", Type: domain.VarEmail, Description: "email address"}
	runExtractCases(t, email, []extractCase{
		{"it's Ana.Perez+shop@Example.COM.", outcome{value: "Ana.Perez+shop@example.com", text: "Ana.Perez+shop@Example.COM"}},
		{"<bob@mail.example.org>", outcome{value: "bob@mail.example.org", text: "bob@mail.example.org"}},
		{"ana@gmail", invalid(`"ana@gmail" is not a valid email address: it needs a domain after the @`)},
		{"@example.com", invalid("the part before the @ is not valid")},
		{"ana..perez@example.com", invalid("the part before the @ is not valid")},
		{"a@x.com or b@y.com", ambiguous("more than one email address")},
		{"meet me @ 5", outcome{}},
		{"no address", outcome{}},
	})
}

func TestPhoneExtractor(t *testing.T) {
	phone := domain.Variable{Name: "phone", Type: domain.VarPhone, Description: "phone number"}
	runExtractCases(t, phone, []extractCase{
		{"+44 20 7946 0958", outcome{value: "+442079460958", text: "+44 20 7946 0958"}},
		{"call me at (555) 123-4567.", outcome{value: "5551234567", text: "555) 123-4567"}},
		{"0044 20 7946 0958", outcome{value: "+442079460958", text: "0044 20 7946 0958"}},
		{"it's 555.123.4567", outcome{value: "5551234567", text: "555.123.4567"}},
		{"123 456", invalid(`"123 456" is not a valid phone number: it is too short`)},
		{"+1 234 567 890 123 456 78", invalid("it is too long")},
		// docs/agent-bundle.md (Variables): 7 to 15 digits are read; 6 ("123 456",
		// above) and 16 are refused. A leading 00 is not counted.
		{"123 4567", outcome{value: "1234567", text: "123 4567"}},
		{"+1 234 567 890 123 45", outcome{value: "+123456789012345", text: "+1 234 567 890 123 45"}},
		{"123 456 789 012 345", outcome{value: "123456789012345", text: "123 456 789 012 345"}},
		{"+1 234 567 890 123 456", invalid("too long")},
		{"1234 567 890 123 456", invalid("too long")},
		{"0044 1234 567 890 123", outcome{value: "+441234567890123", text: "0044 1234 567 890 123"}},
		{"0044 1234 567 890 1234", invalid("too long")},
		{"555-123-4567 or 555-765-4321", ambiguous("more than one phone number")},
		{"order AC-1234567", outcome{}},
		{"invoice INV2024-1234567", outcome{}},
		{"on 2025-01-15", outcome{}},
		// A date the date reader reads is no phone number, dots or not.
		{"on 24.12.2024", outcome{}},
		{"by 1.2.25", outcome{}},
		{"12.50", outcome{}},
	})
}

// A pattern variable's value is held to 1000 characters like a text's,
// and a normaliser repeating its group is not expanded past that: a
// 2,000-byte "$1$1…" over a 1,000-byte word would make a 1 MB value.
func TestPatternValuesAreBounded(t *testing.T) {
	word := domain.Variable{Name: "word", Type: domain.VarPattern, Pattern: `(\w+)`, Normalize: strings.Repeat("$1", 500)}
	runExtractCases(t, word, []extractCase{{"ab", outcome{value: strings.Repeat("ab", 500), text: "ab"}}})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, ok := extract(t, word, strings.Repeat("x", 1000))
	runtime.ReadMemStats(&after)
	require.True(t, ok)
	assert.Equal(t, domain.ProblemInvalid, got.problem)
	assert.Contains(t, got.reason, "longer than 1000 characters")
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<10), "the value was not expanded")

	// A pattern whose every part is optional matches nothing at a word
	// boundary: that is no mention.
	sloppy := domain.Variable{Name: "order", Type: domain.VarPattern, Pattern: `\b(?:AC-)?(?:\d{6})?\b`}
	runExtractCases(t, sloppy, []extractCase{
		{"hello there", outcome{}},
		{"it's AC-123456", outcome{value: "AC-123456", text: "AC-123456"}},
	})

	plain := domain.Variable{Name: "word", Type: domain.VarPattern, Pattern: `\w+`}
	runExtractCases(t, plain, []extractCase{{strings.Repeat("y", 1000), outcome{value: strings.Repeat("y", 1000), text: strings.Repeat("y", 1000)}}})
	got, ok = extract(t, plain, strings.Repeat("y", 1001))
	require.True(t, ok)
	assert.Equal(t, domain.ProblemInvalid, got.problem)

	// A group small beside its match is expanded as before.
	order := domain.Variable{Name: "order", Type: domain.VarPattern, Pattern: `order (\d+) .*`, Normalize: "AC-$1"}
	runExtractCases(t, order, []extractCase{{"order 42 " + strings.Repeat("z", 5000), outcome{value: "AC-42", text: "order 42 " + strings.Repeat("z", 5000)}}})
}

func TestTextExtractor(t *testing.T) {
	note := domain.Variable{Name: "note", Type: domain.VarText}
	runExtractCases(t, note, []extractCase{
		{"  the parcel was left at the door  ", outcome{value: "the parcel was left at the door", text: "the parcel was left at the door"}},
		{"   ", outcome{}},
	})
	// agent-bundle.md: at most 1000 characters, counted as characters.
	longest := strings.Repeat("é", 1000)
	runExtractCases(t, note, []extractCase{{longest, outcome{value: longest, text: longest}}})
	got, ok := extract(t, note, longest+"x")
	require.True(t, ok)
	assert.Equal(t, domain.ProblemInvalid, got.problem)
	assert.Contains(t, got.reason, "longer than 1000 characters")
}
