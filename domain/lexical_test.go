package domain_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestTokenizeFoldsCaseDropsStopWordsAndStems(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"case folding", "REFUND Refund refund", []string{"refund", "refund", "refund"}},
		{"function words dropped", "the order is on its way to you", []string{"order", "way"}},
		{"condition filler dropped", "The customer asks about a refund", []string{"refund"}},
		{"user wants filler dropped", "user wants to talk", []string{"talk"}},
		{"single letters dropped", "x y z plan b", []string{"plan"}},
		{"digits kept, even single ones", "order 7 of 42 item 3", []string{"order", "7", "42", "item", "3"}},
		{"punctuation splits words", "order#12345, please!", []string{"order", "12345"}},
		{"return inflections meet", "returns returned returning return", []string{"return", "return", "return", "return"}},
		{"ies plural becomes y", "deliveries", []string{"delivery"}},
		{"doubled consonant undoubled", "shipped shipping", []string{"ship", "ship"}},
		{"cancelled becomes cancel", "cancelled cancelling canceled", []string{"cancel", "cancel", "cancel"}},
		{"plain plural", "hours orders", []string{"hour", "order"}},
		{"ss and us endings kept", "address status", []string{"address", "status"}},
		{"short words not stemmed", "bed ring", []string{"bed", "ring"}},
		{"empty text", "", nil},
		{"only stop words", "the customer asks about it", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.Tokenize(tt.text)
			if tt.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNewQueryKeepsDistinctTerms(t *testing.T) {
	q := domain.NewQuery("Refund, refunds and REFUNDED shipping")
	require.Equal(t, []string{"refund", "ship"}, q.Terms())
}

func TestLexicalIndexScoreDoc(t *testing.T) {
	docs := []string{
		"refund policy for damaged items",
		"store opening hours",
		"refund",
	}
	idx := domain.NewLexicalIndex(docs)
	require.Equal(t, 3, idx.Len())

	tests := []struct {
		name    string
		message string
		doc     int
		want    float64
	}{
		{"whole condition covered", "What is your refund policy for damaged items?", 0, 1},
		{"inflected message covers condition", "When are stores open? Opening hours please", 1, 1},
		{"single-term condition covered", "I want my refund", 2, 1},
		{"unrelated message", "do you sell gift cards", 0, 0},
		{"unrelated to hours", "refund for damaged items", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := idx.ScoreDoc(domain.NewQuery(tt.message), tt.doc)
			require.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestLexicalIndexScoresAreBetweenZeroAndOne(t *testing.T) {
	docs := []string{"refund policy", "refund refund refund", "track my parcel delivery", "opening hours"}
	idx := domain.NewLexicalIndex(docs)
	messages := []string{"refund", "refund refund policy policy", "parcel", "hours", "nothing here", "track parcel delivery refund policy hours"}
	for _, m := range messages {
		q := domain.NewQuery(m)
		for d := range docs {
			s := idx.ScoreDoc(q, d)
			require.GreaterOrEqual(t, s, 0.0, "message %q doc %d", m, d)
			require.LessOrEqual(t, s, 1.0+1e-9, "message %q doc %d", m, d)
		}
	}
}

func TestLexicalIndexPartialCoverageScoresBetween(t *testing.T) {
	idx := domain.NewLexicalIndex([]string{"refund policy for damaged items", "shipping"})
	s := idx.ScoreDoc(domain.NewQuery("refund"), 0)
	require.Greater(t, s, 0.0)
	require.Less(t, s, 1.0)
}

func TestLexicalIndexRareTermsWeighMore(t *testing.T) {
	// "order" appears in every document, "cancel" in one: covering the rare
	// term must be worth more of the condition than covering the common one.
	idx := domain.NewLexicalIndex([]string{
		"cancel order",
		"track order",
		"change order",
		"order status",
	})
	rare := idx.ScoreDoc(domain.NewQuery("please cancel"), 0)
	common := idx.ScoreDoc(domain.NewQuery("about my order"), 0)
	require.Greater(t, rare, common)
	require.Greater(t, rare, 0.5)
	require.Less(t, common, 0.5)
}

func TestLexicalIndexSearchReturnsOnlyDocsSharingATerm(t *testing.T) {
	idx := domain.NewLexicalIndex([]string{
		"refund policy",
		"opening hours",
		"refund for late delivery",
		"gift cards",
	})
	hits := idx.Search(domain.NewQuery("I want a refund for my delivery"))
	docs := make([]int, 0, len(hits))
	for _, h := range hits {
		docs = append(docs, h.Doc)
		require.Greater(t, h.Score, 0.0)
		require.LessOrEqual(t, h.Score, 1.0+1e-9)
		require.InDelta(t, idx.ScoreDoc(domain.NewQuery("I want a refund for my delivery"), h.Doc), h.Score, 1e-12)
	}
	slices.Sort(docs)
	require.Equal(t, []int{0, 2}, docs)
}

func TestLexicalIndexSearchWithoutSharedTermsFindsNothing(t *testing.T) {
	idx := domain.NewLexicalIndex([]string{"refund policy", "opening hours"})
	require.Empty(t, idx.Search(domain.NewQuery("gift cards")))
	require.Empty(t, idx.Search(domain.NewQuery("the customer asks about it")))
}

func TestLexicalIndexEmpty(t *testing.T) {
	idx := domain.NewLexicalIndex(nil)
	require.Equal(t, 0, idx.Len())
	require.Empty(t, idx.Search(domain.NewQuery("refund please")))
}

func TestLexicalIndexDocWithoutTermsScoresZero(t *testing.T) {
	idx := domain.NewLexicalIndex([]string{"the customer asks", "refund"})
	require.Equal(t, 0.0, idx.ScoreDoc(domain.NewQuery("the customer asks"), 0))
	require.Empty(t, idx.Search(domain.NewQuery("customer asks")))
}
