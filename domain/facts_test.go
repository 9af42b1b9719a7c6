package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestExtractReplyFactsAmounts(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		amounts []float64
		max     float64
	}{
		{"dollar sign", "That is $30.", []float64{30}, 30},
		{"dollar sign with cents and thousands", "Total: $1,200.50 today", []float64{1200.5}, 1200.5},
		{"euro sign", "Only €45 now", []float64{45}, 45},
		{"pound and yen signs", "£12 or ¥3000", []float64{12, 3000}, 3000},
		{"code before", "EUR 99.90 due", []float64{99.9}, 99.9},
		{"code after", "30 EUR back", []float64{30}, 30},
		{"lower-case code", "it costs 15 usd", []float64{15}, 15},
		{"dollars word", "We refund 12 dollars", []float64{12}, 12},
		{"singular dollar", "just 1 dollar", []float64{1}, 1},
		{"euros word", "2,500 euros", []float64{2500}, 2500},
		{"several amounts, max is the largest", "Pay $20 now and $450 later, or €100", []float64{20, 450, 100}, 450},
		// Every currency a customer's amount may name counts in a reply too
		// (the extractor's signs, codes and words): a reply of 700 CAD must
		// not pass "max_amount <= 500".
		{"other codes before and after", "Refund of 700 CAD or AUD 1,500", []float64{700, 1500}, 1500},
		{"yen by word and code", "5000 yen, that is JPY 5000", []float64{5000, 5000}, 5000},
		{"slang words", "700 bucks or 20 quid", []float64{700, 20}, 700},
		{"a three-letter word is no code", "for 700 and the 12", nil, 0},
		{"plain numbers are not amounts", "Order 12345 has 3 items", nil, 0},
		{"no amounts", "Thanks!", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := domain.ExtractReplyFacts(tt.text)
			require.ElementsMatch(t, tt.amounts, f.Amounts)
			require.Equal(t, tt.max, f.MaxAmount)
		})
	}
}

func TestExtractReplyFactsPercentages(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		percents []float64
		max      float64
	}{
		{"percent sign", "Save 15% today", []float64{15}, 15},
		{"percent sign after space", "Save 15 % today", []float64{15}, 15},
		{"percent word", "a 7.5 percent fee", []float64{7.5}, 7.5},
		{"percent word any case", "50 Percent off", []float64{50}, 50},
		{"percentage is not percent", "a 50 percentage points", nil, 0},
		{"max of several", "10% now, 25% later", []float64{10, 25}, 25},
		{"none", "no discount", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := domain.ExtractReplyFacts(tt.text)
			require.Equal(t, tt.percents, f.Percentages)
			require.Equal(t, tt.max, f.MaxPercent)
		})
	}
}

func TestExtractReplyFactsNumbersLengthAndWords(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		numbers []float64
		length  int
		words   int
	}{
		{"mixed", "Order 12345: $1,200.50 and 15% off", []float64{12345, 1200.5, 15}, 34, 6},
		{"multi-byte runes counted once", "Grüße — €5", []float64{5}, 10, 3},
		{"empty", "", nil, 0, 0},
		{"whitespace only", " \n\t", nil, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := domain.ExtractReplyFacts(tt.text)
			require.Equal(t, tt.text, f.Text)
			require.Equal(t, tt.numbers, f.Numbers)
			require.Equal(t, tt.length, f.Length)
			require.Equal(t, tt.words, f.Words)
		})
	}
}

// Ambiguous notations read as the larger value, so a limit such as
// max_amount <= 500 fails safe; each number is read once.
func TestReplyFactsReadAmbiguityAsTheLargerValue(t *testing.T) {
	cases := []struct {
		text    string
		amounts []float64
		numbers []float64
	}{
		{"€1.000", []float64{1000}, []float64{1000}},
		{"€12,50", []float64{1250}, []float64{1250}},
		{"1 million dollars", []float64{1e6}, []float64{1e6}},
		{"$2.5k", []float64{2500}, []float64{2500}},
		{"items 1,2,3", nil, []float64{1, 2, 3}},
		{"$30 dollars", []float64{30}, []float64{30}},
		{"1.234,56 €", []float64{1234.56}, []float64{1234.56}},
		{"call 555-1234", nil, []float64{555, 1234}},
	}
	for _, c := range cases {
		f := domain.ExtractReplyFacts(c.text)
		assert.Equal(t, c.amounts, f.Amounts, c.text)
		assert.Equal(t, c.numbers, f.Numbers, c.text)
	}
}

// Amounts and percentages a reply spells out count as the ones in digits
// do; other spelt-out numbers are not numbers of the reply's.
func TestExtractReplyFactsSpeltOut(t *testing.T) {
	tests := []struct {
		text                 string
		amounts, percentages []float64
	}{
		{"a refund of two thousand dollars", []float64{2000}, nil},
		{"Two hundred and fifty euros, or a thousand and one pounds", []float64{250, 1001}, nil},
		{"twenty-five percent off, then ninety nine percent", nil, []float64{25, 99}},
		{"three million USD", []float64{3e6}, nil},
		{"I am a hundred percent sure", nil, []float64{100}},
		{"USD seventy", []float64{70}, nil},
		{"one of our agents will call within two days", nil, nil},
		{"one two three dollars", []float64{3}, nil},
		{"between two and three thousand dollars", []float64{3000}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			f := domain.ExtractReplyFacts(tt.text)
			assert.ElementsMatch(t, tt.amounts, f.Amounts)
			assert.ElementsMatch(t, tt.percentages, f.Percentages)
			assert.Len(t, f.Numbers, len(tt.amounts)+len(tt.percentages), "only the amounts and percentages are numbers")
		})
	}
}
