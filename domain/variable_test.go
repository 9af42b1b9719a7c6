package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

func demoVariables(t *testing.T) *domain.VariableSet {
	t.Helper()
	qty := domain.Variable{Name: "quantity", Type: domain.VarNumber}
	when := domain.Variable{Name: "purchase_date", Type: domain.VarDate}
	note := domain.Variable{Name: "note", Type: domain.VarText}
	set, err := domain.CompileVariables([]domain.Variable{orderID, returnReason(), qty, when, note})
	require.NoError(t, err)
	return set
}

// A message read for several variables gives each the text that is its
// own: the order number's digits are not also a quantity, the date's
// day not also a number.
func TestVariableSetReadsEachMentionOnce(t *testing.T) {
	set := demoVariables(t)
	got := set.Extract([]string{"quantity", "order_id", "reason", "purchase_date"},
		"Order AC-123456 from 3 December: 2 shirts, too tight", turnTime)
	assert.Equal(t, []domain.Extraction{
		{Variable: "quantity", Source: domain.SetByExtractor, Value: 2.0, Text: "2"},
		{Variable: "order_id", Source: domain.SetByExtractor, Value: "AC-123456", Text: "AC-123456"},
		{Variable: "reason", Source: domain.SetByExtractor, Value: "wrong_size", Text: "too tight"},
		{Variable: "purchase_date", Source: domain.SetByExtractor, Value: "2024-12-03", Text: "3 December"},
	}, got, "in the order asked")

	got = set.Extract([]string{"order_id", "reason"}, "AC-123456 or AC-654321? it's broken", turnTime)
	require.Len(t, got, 2)
	assert.Equal(t, domain.ProblemAmbiguous, got[0].Problem)
	assert.Equal(t, "AC-123456, AC-654321", got[0].Text)
	assert.Nil(t, got[0].Value, "an ambiguous mention sets nothing")
	assert.Equal(t, "damaged", got[1].Value)

	assert.Empty(t, set.Extract([]string{"order_id", "unknown"}, "hello", turnTime), "nothing mentioned, unknown names ignored")
}

// A callback number and a day in one message are both read: the phone
// reader leaves a dotted date to the date reader, though it reads first.
func TestPhoneAndDottedDateInOneMessage(t *testing.T) {
	set, err := domain.CompileVariables([]domain.Variable{
		{Name: "phone", Type: domain.VarPhone}, {Name: "day", Type: domain.VarDate, DateOrder: "dmy"}})
	require.NoError(t, err)
	got := set.Extract([]string{"phone", "day"}, "call me at 555 123 4567 on 24.12.2024", turnTime)
	assert.Equal(t, []domain.Extraction{
		{Variable: "phone", Source: domain.SetByExtractor, Value: "5551234567", Text: "555 123 4567"},
		{Variable: "day", Source: domain.SetByExtractor, Value: "2024-12-24", Text: "24.12.2024"},
	}, got)
}

func TestTextVariablesTakeTheMessageOnlyWhenAskedAlone(t *testing.T) {
	set := demoVariables(t)
	got := set.Extract([]string{"note"}, " left at the door ", turnTime)
	assert.Equal(t, []domain.Extraction{{Variable: "note", Source: domain.SetByExtractor, Value: "left at the door", Text: "left at the door"}}, got)
	got = set.Extract([]string{"note", "order_id"}, "AC-123456 left at the door", turnTime)
	assert.Equal(t, []domain.Extraction{{Variable: "order_id", Source: domain.SetByExtractor, Value: "AC-123456", Text: "AC-123456"}}, got)
}

// Values from the model, tools, metadata or initial values are held to
// the variable's type and stored in its form.
func TestCheckNormalisesValuesFromElsewhere(t *testing.T) {
	set := demoVariables(t)
	refund, err := domain.NewExtractor(domain.Variable{Name: "refund", Type: domain.VarAmount, Currency: "EUR", Max: num(100)})
	require.NoError(t, err)
	consent, err := domain.NewExtractor(domain.Variable{Name: "consent", Type: domain.VarBoolean})
	require.NoError(t, err)
	tests := []struct {
		x      *domain.Extractor
		in     any
		want   any
		reason string
	}{
		{set.Get("order_id"), "ac 123456", "AC-123456", ""},
		{set.Get("order_id"), "AC-12345", nil, `"AC-12345" is not a valid order number: AC- followed by six digits`},
		{set.Get("order_id"), "hello", nil, `"hello" is not a valid order number: AC- followed by six digits`},
		{set.Get("order_id"), 123456.0, nil, "is written as text"},
		{set.Get("reason"), "DAMAGED", "damaged", ""},
		{set.Get("reason"), "too tight", "wrong_size", ""},
		{set.Get("reason"), "lost", nil, `"lost" is not a valid reason for the return`},
		{set.Get("quantity"), 3.0, 3.0, ""},
		{set.Get("quantity"), "three", 3.0, ""},
		{set.Get("quantity"), true, nil, "it must be a number"},
		{set.Get("purchase_date"), "2024-12-03", "2024-12-03", ""},
		{set.Get("purchase_date"), "yesterday", "2025-01-14", ""},
		{set.Get("note"), "  fine  ", "fine", ""},
		{set.Get("note"), 4.0, nil, "it must be text"},
		{refund, 45.0, map[string]any{"value": 45.0, "currency": "EUR"}, ""},
		{refund, map[string]any{"value": 45.0, "currency": "EUR"}, map[string]any{"value": 45.0, "currency": "EUR"}, ""},
		{refund, map[string]any{"value": 45.0, "currency": "USD"}, nil, "amounts are in EUR"},
		{refund, "€120", nil, "it must be at most 100"},
		{refund, map[string]any{"amount": 4.0}, nil, "it must be an amount"},
		// An amount object holds value and currency, nothing else.
		{refund, map[string]any{"value": 4.0, "note": "x"}, nil, "it must be an amount"},
		{refund, map[string]any{"value": 4.0, "currency": nil}, map[string]any{"value": 4.0, "currency": "EUR"}, ""},
		{consent, "yes", true, ""},
		{consent, false, false, ""},
		{consent, 1.0, nil, "it must be yes or no"},
	}
	for _, tt := range tests {
		got, err := tt.x.Check(tt.in, turnTime)
		if tt.reason != "" {
			var ee *domain.ExtractError
			require.ErrorAs(t, err, &ee, "%v", tt.in)
			assert.Equal(t, domain.ProblemInvalid, ee.Problem, "%v", tt.in)
			assert.Contains(t, ee.Reason, tt.reason, "%v", tt.in)
			continue
		}
		require.NoError(t, err, "%v", tt.in)
		assert.Equal(t, tt.want, got, "%v", tt.in)
	}
}

func TestToolOutputsAreHeldToTheDeclaredOnes(t *testing.T) {
	set := demoVariables(t)
	lookup := domain.Tool{ID: "lookup", Outputs: []string{"order_id", "item_name"}}
	kept, err := set.ToolOutputs(lookup, map[string]any{"order_id": "ac123456", "item_name": "Parka", "secret": "x"}, turnTime)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"order_id": "AC-123456", "item_name": "Parka"}, kept, "undeclared outputs dropped, typed ones normalised")

	_, err = set.ToolOutputs(lookup, map[string]any{"order_id": "AC-1", "item_name": "Parka"}, turnTime)
	require.ErrorContains(t, err, `its output order_id is invalid: "AC-1" is not a valid order number`)

	open := domain.Tool{ID: "open"}
	kept, err = set.ToolOutputs(open, map[string]any{"quantity": "2", "anything": []any{1.0}}, turnTime)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"quantity": 2.0, "anything": []any{1.0}}, kept, "a tool without declared outputs keeps all")
}

func TestInitialValuesInTheirStoredForm(t *testing.T) {
	set, err := domain.CompileVariables([]domain.Variable{
		{Name: "tier", Type: domain.VarEnum, Values: []domain.EnumValue{{Value: "gold"}, {Value: "basic"}}, Initial: "Basic"},
		{Name: "budget", Type: domain.VarAmount, Currency: "EUR", Initial: 50.0},
		{Name: "note", Type: domain.VarText},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"tier": "basic", "budget": map[string]any{"value": 50.0, "currency": "EUR"}}, set.Initial(turnTime))
}

// ExtractAhead reads the later steps' variables from what the asked ones
// left of the message, and only the kinds that say which variable they
// are, and only their values: the step's reading takes its text first
// (the old address is not also the new one), a loose kind (date, number,
// phone, amount, boolean, text) is not read unasked, and an ambiguous
// reason read unasked is dropped, not returned as a problem.
func TestExtractAheadReadsOnlyWhatSaysWhichVariableItIs(t *testing.T) {
	set, err := domain.CompileVariables([]domain.Variable{orderID, returnReason(),
		{Name: "old_email", Type: domain.VarEmail}, {Name: "new_email", Type: domain.VarEmail},
		{Name: "quantity", Type: domain.VarNumber}, {Name: "purchase_date", Type: domain.VarDate},
		{Name: "callback", Type: domain.VarPhone}, {Name: "refund", Type: domain.VarAmount},
		{Name: "agreed", Type: domain.VarBoolean}, {Name: "note", Type: domain.VarText}})
	require.NoError(t, err)
	loose := []string{"quantity", "purchase_date", "callback", "refund", "agreed", "note"}

	read, early := set.ExtractAhead([]string{"old_email"}, append([]string{"new_email", "reason", "order_id"}, loose...),
		"yes, it's ana@example.com; 2 shirts bought yesterday for €40, order AC-123456, too tight, call 555 123 4567", turnTime)
	assert.Equal(t, []domain.Extraction{{Variable: "old_email", Source: domain.SetByExtractor, Value: "ana@example.com", Text: "ana@example.com"}}, read)
	assert.Equal(t, []domain.Extraction{
		{Variable: "reason", Source: domain.SetByExtractor, Value: "wrong_size", Text: "too tight"},
		{Variable: "order_id", Source: domain.SetByExtractor, Value: "AC-123456", Text: "AC-123456"},
	}, early, "the address was the step's; the loose kinds are not read ahead")

	read, early = set.ExtractAhead(nil, []string{"reason", "order_id"}, "it's too tight and torn, order AC-12345", turnTime)
	assert.Empty(t, read)
	assert.Empty(t, early, "refused readings ahead are not returned")

	for _, x := range []string{"order_id", "reason", "old_email"} {
		assert.True(t, set.Get(x).ReadsUnasked(), x)
	}
	for _, x := range loose {
		assert.False(t, set.Get(x).ReadsUnasked(), x)
	}
}
