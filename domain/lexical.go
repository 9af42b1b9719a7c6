package domain

import (
	"maps"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BM25 parameters: the usual values, which suit short condition texts.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// LexicalIndex scores messages against a fixed set of condition texts with
// BM25. A document's score is normalised by the score the document would get
// against itself, so scores fall in 0..1 and read as "the IDF-weighted share
// of the condition that the message covers"; that makes one threshold work
// for short and long conditions alike. It is immutable once built and safe
// for concurrent use.
type LexicalIndex struct {
	postings map[string][]posting
	docs     []lexicalDoc
}

type posting struct {
	doc    int32
	weight float64 // idf × BM25 term-frequency factor for this term in this doc
}

type lexicalDoc struct {
	terms map[string]float64 // term → weight, as in postings
	self  float64            // sum of weights: the doc's score against itself
}

// NewLexicalIndex builds the index over docs; document i is docs[i].
func NewLexicalIndex(docs []string) *LexicalIndex {
	tokenized := make([][]string, len(docs))
	df := map[string]int{}
	total := 0
	for i, d := range docs {
		tokenized[i] = Tokenize(d)
		total += len(tokenized[i])
		seen := map[string]bool{}
		for _, t := range tokenized[i] {
			if !seen[t] {
				seen[t] = true
				df[t]++
			}
		}
	}
	avgLen := 1.0
	if len(docs) > 0 && total > 0 {
		avgLen = float64(total) / float64(len(docs))
	}
	n := float64(len(docs))
	idx := &LexicalIndex{postings: make(map[string][]posting, len(df)), docs: make([]lexicalDoc, len(docs))}
	for i, terms := range tokenized {
		tf := map[string]int{}
		for _, t := range terms {
			tf[t]++
		}
		doc := lexicalDoc{terms: make(map[string]float64, len(tf))}
		lenNorm := 1 - bm25B + bm25B*float64(len(terms))/avgLen
		// Sorted order makes the float sums, and so every score and tie,
		// identical from run to run.
		for _, t := range slices.Sorted(maps.Keys(tf)) {
			f := tf[t]
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			w := idf * (float64(f) * (bm25K1 + 1)) / (float64(f) + bm25K1*lenNorm)
			doc.terms[t] = w
			doc.self += w
			idx.postings[t] = append(idx.postings[t], posting{doc: int32(i), weight: w})
		}
		idx.docs[i] = doc
	}
	return idx
}

// Len is the number of documents.
func (x *LexicalIndex) Len() int { return len(x.docs) }

// Query is a message prepared for scoring: its distinct terms.
type Query struct {
	terms []string
}

// NewQuery tokenizes text once for any number of scorings.
func NewQuery(text string) Query {
	terms := Tokenize(text)
	slices.Sort(terms)
	return Query{terms: slices.Compact(terms)}
}

// Terms returns the query's distinct terms.
func (q Query) Terms() []string { return q.terms }

// LexicalHit is a document's normalised score.
type LexicalHit struct {
	Doc   int
	Score float64
}

// Search returns every document sharing at least one term with q, with its
// normalised score. Cost grows with the postings of q's terms, not with the
// number of documents.
func (x *LexicalIndex) Search(q Query) []LexicalHit {
	acc := map[int32]float64{}
	for _, t := range q.terms {
		for _, p := range x.postings[t] {
			acc[p.doc] += p.weight
		}
	}
	hits := make([]LexicalHit, 0, len(acc))
	for d, s := range acc {
		hits = append(hits, LexicalHit{Doc: int(d), Score: s / x.docs[d].self})
	}
	return hits
}

// ScoreDoc returns q's normalised score against document doc alone.
func (x *LexicalIndex) ScoreDoc(q Query, doc int) float64 {
	d := x.docs[doc]
	if d.self == 0 {
		return 0
	}
	var s float64
	for _, t := range q.terms {
		s += d.terms[t]
	}
	return s / d.self
}

// Tokenize case-folds text, splits it into words, drops stop words and
// reduces each word to a crude stem, so "Returns" and "returned" meet
// "return".
func Tokenize(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := words[:0]
	for _, w := range words {
		if stopWords[w] || (utf8.RuneCountInString(w) == 1 && !unicode.IsDigit([]rune(w)[0])) {
			continue
		}
		if st := stem(w); !stopWords[st] {
			out = append(out, st)
		}
	}
	return out
}

// stem strips common English inflections. It is deliberately light: a wrong
// merge costs precision everywhere, a missed one only costs that word. A
// final "e" is dropped from every stem, so "price", "priced" and "pricing"
// all meet at "pric".
func stem(w string) string {
	switch {
	case len(w) > 5 && strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		w = w[:len(w)-3] + "y"
	case len(w) >= 6 && strings.HasSuffix(w, "ing"):
		w = undouble(w[:len(w)-3])
	case len(w) >= 5 && strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed"):
		w = undouble(w[:len(w)-2])
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		w = w[:len(w)-1]
	}
	if len(w) > 3 && strings.HasSuffix(w, "e") {
		w = w[:len(w)-1]
	}
	return w
}

// undouble turns "shipp" into "ship" and "cancell" into "cancel".
func undouble(s string) string {
	n := len(s)
	if n >= 5 && s[n-1] == s[n-2] && !strings.ContainsRune("aeiou", rune(s[n-1])) {
		return s[:n-1]
	}
	return s
}

// stopWords are function words plus the filler that condition texts are
// written in ("the customer asks about ..."), which would otherwise make every
// message match every condition a little.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if then than so of to in on at by for from with
		about into over under up down out off as is are was were be been being am do does did doing done
		have has had having i me my mine we us our you your yours he him his she her it its they them their
		this that these those there here what which who whom whose when where why how all any some not
		can could would should will shall may might must just also very too only own same such more most
		other please
		customer customers user users client asks ask asked asking wants want wanted says say said
		mentions mention mentioned talks inquires inquire during`) {
		m[w] = true
	}
	return m
}()
