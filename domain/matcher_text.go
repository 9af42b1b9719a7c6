package domain

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// matcherWord is one word of a message after normalisation: case-folded,
// contractions expanded, stemmed.
type matcherWord struct {
	stem string
	// negated marks a word inside a negation's scope ("talk" in "I don't
	// want to talk"), so that it does not count as the plain word.
	negated bool
	number  bool
}

// matcherWords splits text into normalised words. "n't" and its spellings
// without an apostrophe ("dont", "cant") become "not", so every negation
// looks alike. A negation covers the words after it up to scope words or
// the end of the clause (punctuation or "but"); scope 0 disables it.
func matcherWords(text string, scope int) []matcherWord {
	return appendMatcherWords(make([]matcherWord, 0, 16), text, scope)
}

// appendMatcherWords is matcherWords appending to out, whose array a
// caller keeping no words between calls reuses.
//
// Scoring a message reads it every turn, so the text is read in two
// passes: the first writes every word (case-folded) and symbol into one
// buffer and notes where each is; the second makes that buffer one string
// and emits each word as a slice of it, rather than a string per word.
func appendMatcherWords(out []matcherWord, text string, scope int) []matcherWord {
	tb := textBuffers.Get().(*textBuffer)
	defer textBuffers.Put(tb)
	buf, spans := tb.buf[:0], tb.spans[:0]
	defer tb.keep(buf, spans)
	start := 0 // the word being read is buf[start:]
	for _, c := range text {
		switch {
		case c < utf8.RuneSelf && asciiWordBytes[c] != 0:
			buf = append(buf, asciiWordBytes[c])
		case unicode.IsLetter(c) || unicode.IsDigit(c):
			buf = utf8.AppendRune(buf, unicode.ToLower(c))
		case c == '\'' || c == '’' || c == '‘' || c == '`':
			if len(buf) > start {
				buf = append(buf, '\'')
			}
		case unicode.IsSymbol(c):
			// Currency signs and emoji carry meaning of their own.
			spans, start = endWord(spans, buf, start)
			buf = utf8.AppendRune(buf, c)
			spans, start = append(spans, textSpan{start: int32(start), end: int32(len(buf)), kind: spanSymbol}), len(buf)
		default:
			spans, start = endWord(spans, buf, start)
			if strings.ContainsRune(".,;:!?()", c) {
				spans = append(spans, textSpan{kind: spanBreak})
			}
		}
	}
	spans, _ = endWord(spans, buf, start)
	all := string(buf)
	s := wordSplitter{out: out, scope: scope}
	for _, sp := range spans {
		switch sp.kind {
		case spanWord:
			s.flush(all[sp.start:sp.end])
		case spanSymbol:
			s.emit(all[sp.start:sp.end])
		case spanBreak:
			s.left = 0
		}
	}
	return s.out
}

// asciiWordBytes[c] is the ASCII letter or digit c as a word keeps it,
// lower case, and 0 for any other c: what the first pass does with most
// of a text, without asking unicode whether each is a letter and for its
// lower case.
var asciiWordBytes = func() (t [utf8.RuneSelf]byte) {
	for c := range rune(utf8.RuneSelf) {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			t[c] = byte(unicode.ToLower(c))
		}
	}
	return t
}()

// textBuffer is appendMatcherWords' first pass's buffers, kept between
// calls (textBuffers): the words and symbols read, and where each is.
// They hold no strings, so keeping them keeps nothing else alive.
type textBuffer struct {
	buf   []byte
	spans []textSpan
}

// keep keeps buf's and spans' arrays for the next call, unless a long
// text made them too large to hold on to.
func (tb *textBuffer) keep(buf []byte, spans []textSpan) {
	if cap(buf) <= maxKeptText && cap(spans) <= maxKeptText/4 {
		tb.buf, tb.spans = buf[:0], spans[:0]
	}
}

// maxKeptText bounds the text buffer kept between calls, in bytes.
const maxKeptText = 4096

var textBuffers = sync.Pool{New: func() any { return &textBuffer{buf: make([]byte, 0, 256), spans: make([]textSpan, 0, 64)} }}

// textSpan is one word or symbol of appendMatcherWords' buffer, or a
// clause break.
type textSpan struct {
	start, end int32
	kind       spanKind
}

type spanKind uint8

const (
	spanWord spanKind = iota
	spanSymbol
	spanBreak // punctuation that ends a negation's scope
)

// endWord notes buf[start:], the word being read, if any, and returns
// where the next one starts.
func endWord(spans []textSpan, buf []byte, start int) ([]textSpan, int) {
	if len(buf) > start {
		spans = append(spans, textSpan{start: int32(start), end: int32(len(buf)), kind: spanWord})
	}
	return spans, len(buf)
}

// wordSplitter is matcherWords' second pass: it emits the words read.
type wordSplitter struct {
	out   []matcherWord
	scope int
	left  int // words the current negation still covers
}

// flush emits the word w, its contraction expanded.
func (s *wordSplitter) flush(w string) {
	var exp []string
	ok := false
	if mayBeContraction(w) {
		exp, ok = matcherContractions[w]
	}
	if ok || strings.IndexByte(w, '\'') >= 0 {
		if !ok {
			exp = expandContraction(w)
		}
		for _, w := range exp {
			s.emit(w)
		}
		return
	}
	s.emit(w)
}

func (s *wordSplitter) emit(w string) {
	switch {
	case w == "but":
		s.left = 0
	case mayNegate(w) && matcherNegations[w]:
		s.out = append(s.out, matcherWord{stem: "not"})
		s.left = s.scope
		return
	}
	number := isAllDigits(w)
	st := w
	if !number {
		st = matcherStem(w)
	}
	s.out = append(s.out, matcherWord{stem: st, negated: s.left > 0, number: number})
	if s.left > 0 {
		s.left--
	}
}

// expandContraction turns a word that may hold apostrophes into the words
// it stands for: "don't" → "do not", "can't" → "can not", "it's" → "its".
func expandContraction(w string) []string {
	w = strings.TrimRight(w, "'")
	if base, ok := strings.CutSuffix(w, "n't"); ok && base != "" {
		switch base {
		case "ca":
			base = "can"
		case "wo":
			base = "will"
		case "sha":
			base = "shall"
		case "ai":
			base = "is"
		}
		return []string{strings.ReplaceAll(base, "'", ""), "not"}
	}
	w = strings.ReplaceAll(w, "'", "")
	if exp, ok := matcherContractions[w]; ok {
		return exp
	}
	return []string{w}
}

// matcherContractions are negated verbs as people type them without an
// apostrophe.
var matcherContractions = func() map[string][]string {
	m := map[string][]string{"cannot": {"can", "not"}, "cant": {"can", "not"}, "wont": {"will", "not"}}
	for _, v := range strings.Fields("do does did is are was were have has had would could should must need") {
		m[v+"nt"] = []string{v, "not"}
	}
	return m
}()

// mayBeContraction and mayNegate are what every word of
// matcherContractions and of matcherNegations is like, checked before
// looking a word up there: a message's every word was looked up in both,
// which cost more than the rest of reading it into words.
func mayBeContraction(w string) bool { return strings.HasSuffix(w, "nt") || w == "cannot" }

func mayNegate(w string) bool { return w != "" && (w[0] == 'n' || w[0] == 'w') }

// matcherNegations open a negation's scope.
var matcherNegations = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields("not no never nothing nobody none neither nor without") {
		m[w] = true
	}
	return m
}()

func isAllDigits(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return w != ""
}

// matcherStem strips common English inflections so "cards", "carded" and
// "carding" meet. Deliberately light: character n-grams catch what it
// misses, and a wrong merge would cost precision everywhere.
func matcherStem(w string) string {
	if !isASCII(w) {
		return w
	}
	switch n := len(w); {
	case n > 5 && strings.HasSuffix(w, "sses"):
		w = w[:n-2]
	case n > 4 && strings.HasSuffix(w, "ies"):
		w = w[:n-3] + "y"
	case n >= 6 && strings.HasSuffix(w, "ing"):
		w = matcherUndouble(w[:n-3])
	case n >= 5 && strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed"):
		w = matcherUndouble(w[:n-2])
	case n > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		w = w[:n-1]
	}
	if len(w) > 3 && strings.HasSuffix(w, "e") {
		w = w[:len(w)-1]
	}
	return w
}

// matcherUndouble turns "shipp" into "ship" and "cancell" into "cancel".
func matcherUndouble(s string) string {
	n := len(s)
	if n >= 5 && s[n-1] == s[n-2] && !strings.ContainsRune("aeiou", rune(s[n-1])) {
		return s[:n-1]
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Feature namespaces keep a word, a bigram and a character n-gram that
// happen to spell alike apart.
const (
	nsWord byte = iota + 1
	nsNegatedWord
	nsBigram
	nsChar
	nsShape
	nsNegatedBigram
)

const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

// matcherFeatures is a message's features as hashes, per block: words
// (unigrams, bigrams, number shapes) and characters (n-grams within words).
// A hash may repeat; repeats are the term frequency. origin gives, for each
// word feature then each character feature, the word it came from (for a
// bigram, its second word), so a score can name the words behind it.
type matcherFeatures struct {
	words  []uint64
	chars  []uint64
	origin []int32
}

// Character n-grams are taken within words padded with a space either side
// (as scikit-learn's char_wb analyser does), so word starts and ends are
// features and a typo spoils only the n-grams it touches.
const (
	matcherMinGram = 2
	matcherMaxGram = 5
)

// extractFeatures turns normalised words into feature hashes: each word
// and each pair of neighbouring words (in namespaces of their own when the
// word, or the pair's second word, is negated: "not connect me" must not
// share "connect me" with a request to be connected),
// the length of each number (so "123456" and "554433" share a feature),
// and the character n-grams of each word with digits folded to "0".
func extractFeatures(words []matcherWord) matcherFeatures {
	return appendFeatures(nil, words, true)
}

// appendFeatures is extractFeatures with the hashes in *buf's array,
// grown as needed, when buf is not nil, and without origins unless
// withOrigin: a context's vector needs neither an array of its own nor them.
func appendFeatures(buf *[]uint64, words []matcherWord, withOrigin bool) matcherFeatures {
	var origins *[]int32
	if withOrigin {
		origins = new([]int32)
	}
	return featuresIn(buf, origins, words)
}

// featuresIn is extractFeatures with the hashes in *buf's array and the
// origins in *origins' (each grown as needed, a new one when nil), and
// without origins when origins is nil.
func featuresIn(buf *[]uint64, origins *[]int32, words []matcherWord) matcherFeatures {
	// Sized exactly up front: a turn scores every message, and growing
	// these slices one append at a time was most of what scoring
	// allocated. Word features' origins come first, then the grams'.
	nWords, grams := featureCounts(words)
	hashes := hashArray(buf, nWords+grams) // both blocks, one array
	f := matcherFeatures{words: hashes[:0:nWords], chars: hashes[nWords : nWords : nWords+grams]}
	withOrigin := origins != nil
	if withOrigin {
		if cap(*origins) < nWords+grams {
			*origins = make([]int32, nWords, nWords+grams)
		}
		f.origin = (*origins)[:nWords]
	}
	runes := make([]rune, 0, 32)
	for i, w := range words {
		before := len(f.words)
		f.appendWordFeatures(words, i)
		if withOrigin {
			fillOrigin(f.origin[before:len(f.words)], i)
		}
		before = len(f.chars)
		if grams, ok := appendASCIIGrams(f.chars, w.stem); ok {
			f.chars = grams
		} else {
			runes = append(runes[:0], ' ')
			for _, r := range w.stem {
				if unicode.IsDigit(r) {
					r = '0'
				}
				runes = append(runes, r)
			}
			runes = append(runes, ' ')
			f.chars = appendCharGrams(f.chars, runes)
		}
		if withOrigin {
			n := len(f.origin)
			f.origin = f.origin[:n+len(f.chars)-before]
			fillOrigin(f.origin[n:], i)
		}
	}
	return f
}

// fillOrigin sets every origin of o to word i. Four at a time: a word
// has some twenty character grams, and the loop's count, compare and
// jump were most of its instructions one at a time.
func fillOrigin(o []int32, i int) {
	w := int32(i)
	k := 0
	for ; k < len(o)-3; k += 4 { // bounded so, with no index to check
		o[k], o[k+1], o[k+2], o[k+3] = w, w, w, w
	}
	for ; k < len(o); k++ {
		o[k] = w
	}
}

// featureCounts is how many word and character features appendFeatures
// makes of words.
func featureCounts(words []matcherWord) (nWords, grams int) {
	for i, w := range words {
		nWords++
		if i > 0 {
			nWords++
		}
		if w.number {
			nWords++
		}
		grams += charGramCount(utf8.RuneCountInString(w.stem) + 2)
	}
	return nWords, grams
}

// hashArray is n hashes' room: *buf's array when buf is not nil and it is
// large enough, else a new array (kept in *buf when buf is not nil).
func hashArray(buf *[]uint64, n int) []uint64 {
	if buf != nil && cap(*buf) >= n {
		return (*buf)[:n]
	}
	hashes := make([]uint64, n)
	if buf != nil {
		*buf = hashes
	}
	return hashes
}

// appendWordFeatures appends word i's word features: the word, its
// bigram with the word before, and a number's length.
func (f *matcherFeatures) appendWordFeatures(words []matcherWord, i int) {
	w := words[i]
	ns := nsWord
	if w.negated {
		ns = nsNegatedWord
	}
	f.words = append(f.words, fnvString(fnvByte(fnvOffset, ns), w.stem))
	if i > 0 {
		bigram := nsBigram
		if w.negated {
			bigram = nsNegatedBigram
		}
		h := fnvString(fnvByte(fnvOffset, bigram), words[i-1].stem)
		f.words = append(f.words, fnvString(fnvByte(h, ' '), w.stem))
	}
	if w.number {
		f.words = append(f.words, fnvByte(fnvByte(fnvOffset, nsShape), byte(min(len(w.stem), 16))))
	}
}

// charGramCount is how many grams appendCharGrams makes of n runes.
func charGramCount(n int) int {
	c := 0
	for g := matcherMinGram; g <= matcherMaxGram; g++ {
		c += max(0, n-g+1)
	}
	return c
}

// maxASCIIGramWord is the longest word appendASCIIGrams takes, in bytes.
const maxASCIIGramWord = 62

// appendASCIIGrams is appendCharGrams for stem padded with a space either
// side, its digits folded to "0", when stem is ASCII and at most
// maxASCIIGramWord bytes (ok false, dst unchanged, otherwise): the same
// hashes in the same order, read from bytes rather than from runes made
// of the word first, the grams of each start at full length written four
// at a time. A message's words are nearly all such, and their grams were
// a seventh of scoring it besides its margins. It is written for grams
// of matcherMinGram = 2 to matcherMaxGram = 5 characters:
// TestFeaturesAreTheReferenceFeatures fails if they change.
func appendASCIIGrams(dst []uint64, stem string) ([]uint64, bool) {
	if len(stem) > maxASCIIGramWord {
		return dst, false
	}
	var pad [maxASCIIGramWord + 2]byte
	pad[0] = ' '
	var high byte
	for k := 0; k < len(stem); k++ {
		c := stem[k]
		high |= c
		if c-'0' <= 9 {
			c = '0'
		}
		pad[k+1] = c
	}
	if high >= utf8.RuneSelf {
		return dst, false
	}
	pad[len(stem)+1] = ' '
	w := pad[:len(stem)+2]
	start := fnvByte(fnvOffset, nsChar)
	i := 0
	for ; i+matcherMaxGram <= len(w); i++ {
		g := w[i : i+matcherMaxGram]
		h2 := fnvByte(fnvByte(start, g[0]), g[1])
		h3 := fnvByte(h2, g[2])
		h4 := fnvByte(h3, g[3])
		dst = append(dst, h2, h3, h4, fnvByte(h4, g[4]))
	}
	for ; i < len(w)-1; i++ { // the last starts, shorter than full
		h := fnvByte(start, w[i])
		for _, c := range w[i+1:] {
			h = fnvByte(h, c)
			dst = append(dst, h)
		}
	}
	return dst, true
}

// appendCharGrams appends the hash of every n-gram of runes with
// matcherMinGram ≤ n ≤ matcherMaxGram, extending each start's hash one rune
// at a time.
func appendCharGrams(dst []uint64, runes []rune) []uint64 {
	for i := range runes {
		h := fnvByte(fnvOffset, nsChar)
		for j := i; j < len(runes) && j-i < matcherMaxGram; j++ {
			r := runes[j]
			h = fnvByte(h, byte(r))
			if r >= 0x80 {
				h = fnvByte(fnvByte(fnvByte(h, byte(r>>8)), byte(r>>16)), byte(r>>24))
			}
			if j-i+1 >= matcherMinGram {
				dst = append(dst, h)
			}
		}
	}
	return dst
}
