package domain

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// phrase is one way of naming a value: its words, stemmed.
type phrase struct {
	stems []string
	value any
}

// phraseMatcher finds phrases in messages word by word: case-insensitive,
// on word boundaries, with light stemming so "tights" meets "tight" and
// "damages" meets "damage". A phrase right after a negation ("not too
// tight", "wasn't damaged") does not count. Where phrases overlap the
// longer one wins, so "not the right size" can name another value than
// "right".
type phraseMatcher struct {
	byFirst map[string][]phrase
}

func newPhraseMatcher(phrases []phrase) *phraseMatcher {
	m := &phraseMatcher{byFirst: map[string][]phrase{}}
	for _, p := range phrases {
		if len(p.stems) > 0 {
			m.byFirst[p.stems[0]] = append(m.byFirst[p.stems[0]], p)
		}
	}
	return m
}

// enumPhrases names each value by itself ("wrong_size" as "wrong size")
// and by its synonyms.
func enumPhrases(values []EnumValue) []phrase {
	var out []phrase
	for _, v := range values {
		out = append(out, phrase{stems: phraseStems(strings.NewReplacer("_", " ", "-", " ").Replace(v.Value)), value: v.Value})
		for _, s := range v.Synonyms {
			out = append(out, phrase{stems: phraseStems(s), value: v.Value})
		}
	}
	return out
}

// booleanPhrases are the usual ways of saying yes and no.
var booleanPhrases = func() *phraseMatcher {
	var out []phrase
	for _, s := range []string{"yes", "yeah", "yep", "yup", "sure", "correct", "ok", "okay", "absolutely", "definitely",
		"of course", "that's right", "affirmative", "indeed", "please do"} {
		out = append(out, phrase{stems: phraseStems(s), value: true})
	}
	for _, s := range []string{"no", "nope", "nah", "not really", "negative", "no thanks"} {
		out = append(out, phrase{stems: phraseStems(s), value: false})
	}
	return newPhraseMatcher(out)
}()

// negations make the phrase after them not count.
var negations = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range []string{"not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't",
		"weren't", "won't", "can't", "cannot", "nothing", "neither", "nor", "without"} {
		m[wordStem(w)] = true
	}
	return m
}()

// negationReach is how many words before a phrase a negation still
// applies to ("not really too tight").
const negationReach = 3

// word is one word of a message: its stem, where it is, and the clause
// it belongs to (punctuation and "but" start a new one).
type word struct {
	stem       string
	start, end int
	clause     int
}

// splitWords cuts text into words: runs of letters and digits, with
// apostrophes inside a word kept to it ("didn't").
func splitWords(text string) []word {
	var out []word
	start, clause := -1, 0
	isWordRune := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := word{stem: wordStem(text[start:end]), start: start, end: end, clause: clause}
		if w.stem == "but" {
			clause++
			w.clause = clause
		}
		out = append(out, w)
		start = -1
	}
	for i, r := range text {
		switch {
		case isWordRune(r):
			if start < 0 {
				start = i
			}
		case (r == '\'' || r == '’') && start >= 0:
			// inside a word only when a letter follows
			next, _ := utf8.DecodeRuneInString(text[i+utf8.RuneLen(r):])
			if !isWordRune(next) {
				flush(i)
			}
		default:
			flush(i)
			if strings.ContainsRune(",;:.!?()", r) {
				clause++
			}
		}
	}
	flush(len(text))
	return out
}

// wordStem folds case, drops apostrophes and strips common inflections.
func wordStem(w string) string {
	w = strings.ToLower(strings.NewReplacer("'", "", "’", "").Replace(w))
	return stem(w)
}

func phraseStems(s string) []string {
	ws := splitWords(s)
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.stem
	}
	return out
}

// candidates finds every phrase in text.
func (m *phraseMatcher) candidates(text string) []candidate {
	ws := splitWords(text)
	type hit struct {
		at, n int
		value any
	}
	var hits []hit
	for i, w := range ws {
		for _, p := range m.byFirst[w.stem] {
			if i+len(p.stems) <= len(ws) && matchesAt(ws, i, p.stems) {
				hits = append(hits, hit{at: i, n: len(p.stems), value: p.value})
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.at, b.at))
	})
	taken := make([]bool, len(ws))
	var out []candidate
	for _, h := range hits {
		if slices.Contains(taken[h.at:h.at+h.n], true) {
			continue
		}
		for k := h.at; k < h.at+h.n; k++ {
			taken[k] = true
		}
		if negated(ws, h.at) {
			continue
		}
		start, end := ws[h.at].start, ws[h.at+h.n-1].end
		out = append(out, candidate{value: h.value, text: text[start:end], start: start, end: end})
	}
	slices.SortFunc(out, func(a, b candidate) int { return cmp.Compare(a.start, b.start) })
	return out
}

func matchesAt(ws []word, at int, stems []string) bool {
	for k, s := range stems {
		if ws[at+k].stem != s {
			return false
		}
	}
	return true
}

func negated(ws []word, at int) bool {
	for k := max(0, at-negationReach); k < at; k++ {
		if negations[ws[k].stem] && ws[k].clause == ws[at].clause {
			return true
		}
	}
	return false
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
