package alignment

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"focal/domain"
	"focal/ports"
)

// errViolation stops a model stream as soon as its text breaks a lexical
// constraint; generation then regenerates from the text already released.
type errViolation struct {
	constraint domain.CheckedConstraint
}

func (e *errViolation) Error() string {
	return "reply breaks constraint of rule " + e.constraint.RuleID
}

// releaser forwards reply text to the client's sink only once no forbidden
// phrase or pattern can still complete over it. It keeps back the shortest
// tail that could be the start of a violation; when a constraint needs the
// whole reply (required phrases, expressions, judges, unbounded patterns) it
// keeps back everything until the reply has been checked.
//
// Text once released is final: a later attempt (regeneration or fallback)
// continues after it.
type releaser struct {
	sink      ports.DeltaSink
	lexical   []domain.CheckedConstraint
	whole     bool
	phraseLen int // runes of the longest forbidden phrase, normalised
	patternLn int // runes of the longest bounded forbidden pattern match

	released strings.Builder // everything released so far, all attempts
	// first is the first text released while it is the only one: a
	// reply released in one piece (a template, the offline model's) is
	// kept as it is rather than copied into released, which a second
	// piece then begins with.
	first   string
	attempt strings.Builder // the current attempt's text
	sent    int             // bytes of attempt released
	carry   string          // tail of the text released before this attempt
}

func newReleaser(sink ports.DeltaSink, enforced []domain.CheckedConstraint) *releaser {
	r := &releaser{}
	r.init(sink, enforced)
	return r
}

// init sets up a zero r to release to sink under enforced.
func (r *releaser) init(sink ports.DeltaSink, enforced []domain.CheckedConstraint) {
	r.sink = sink
	streamed := 0
	for _, c := range enforced {
		if r.measure(c) {
			streamed++
		}
	}
	// Usually every enforced constraint is checked as the text streams:
	// the list is then shared, not copied (nothing writes to it).
	r.lexical = enforced
	if streamed < len(enforced) {
		r.lexical = make([]domain.CheckedConstraint, 0, streamed)
		for _, c := range enforced {
			if _, ok := streamedRunes(c); ok {
				r.lexical = append(r.lexical, c)
			}
		}
	}
}

// measure widens what r keeps back for c and reports whether c is checked
// as the text streams; one that is not makes r keep back the whole reply.
func (r *releaser) measure(c domain.CheckedConstraint) bool {
	n, ok := streamedRunes(c)
	switch {
	case !ok:
		r.whole = true
	case c.Constraint.Kind == domain.ConstraintForbidPhrase:
		r.phraseLen = max(r.phraseLen, n)
	default:
		// One rune more than the longest match: a match touching the
		// end is only conclusive once the next rune is known.
		r.patternLn = max(r.patternLn, n+1)
	}
	return ok
}

// streamedRunes is how many runes the longest text c forbids spans, and
// whether c is checked as the text streams: a forbidden phrase, or a
// forbidden pattern whose matches are bounded.
func streamedRunes(c domain.CheckedConstraint) (int, bool) {
	switch c.Constraint.Kind {
	case domain.ConstraintForbidPhrase:
		return c.PhraseRunes(), true
	case domain.ConstraintForbidPattern:
		return c.MaxMatchRunes()
	default:
		return 0, false
	}
}

// begin starts a new attempt after the text already released.
func (r *releaser) begin() {
	r.attempt.Reset()
	r.sent = 0
	// A violation may start in text an earlier attempt released and end in
	// this one ("free" + " money"): keep the tail where such a match could
	// start, to scan with the new attempt's first text.
	prev := r.releasedText()
	r.carry = prev[min(holdBackRaw(prev, r.patternLn), holdBackNormalized(prev, r.phraseLen)):]
}

// streamedReplyBytes is the room a streamed attempt is given up front: a
// reply of a few sentences. Appended a delta at a time, the attempt and
// the released text each grew through every size up to the reply's.
const streamedReplyBytes = 512

// reserve makes room for an attempt the model streams.
func (r *releaser) reserve() {
	r.attempt.Grow(streamedReplyBytes)
	r.released.Grow(streamedReplyBytes)
}

// write takes one model delta. It returns *errViolation when the attempt's
// text now contains a forbidden phrase or pattern.
func (r *releaser) write(delta string) error {
	r.attempt.WriteString(delta)
	if r.whole {
		return nil
	}
	text := r.attempt.String()
	// No violation can start before the text already released: it would
	// have been complete, and caught, when that text was checked. Until
	// this attempt releases anything, that includes the carried tail of
	// earlier attempts. One rune before the scanned text goes along as
	// context, so a word boundary at its start is judged right.
	// Once the attempt has released text, that rune and the rest are a
	// substring of the attempt: no copy is made per delta.
	var checkedText string
	var context int
	if r.sent == 0 {
		prev := r.releasedText()
		before := prev[:len(prev)-len(r.carry)]
		context = lastRuneLen(before)
		checkedText = before[len(before)-context:] + r.carry + text
	} else {
		context = lastRuneLen(text[:r.sent])
		checkedText = text[r.sent-context:]
	}
	checked := domain.NewCheckedText(checkedText)
	for _, c := range r.lexical {
		if c.ForbiddenAfterIn(checked, context, false) >= 0 {
			return &errViolation{constraint: c}
		}
	}
	safe := min(holdBackRaw(text, r.patternLn), holdBackNormalized(text, r.phraseLen))
	if safe > r.sent {
		if err := r.emit(text[r.sent:safe]); err != nil {
			return err
		}
		r.sent = safe
	}
	return nil
}

// lastRuneLen is the length in bytes of the last rune of s, 0 when s is
// empty.
func lastRuneLen(s string) int {
	if s == "" {
		return 0
	}
	_, size := utf8.DecodeLastRuneInString(s)
	return size
}

// attemptText is the current attempt's whole text.
func (r *releaser) attemptText() string { return r.attempt.String() }

// finish releases the rest of the current attempt, which has been checked.
func (r *releaser) finish() error {
	text := r.attempt.String()
	if r.sent < len(text) {
		if err := r.emit(text[r.sent:]); err != nil {
			return err
		}
		r.sent = len(text)
	}
	return nil
}

// releaseText releases a whole checked text (a template, fallback or
// refusal) as one delta after whatever was released before.
func (r *releaser) releaseText(text string) error {
	r.begin()
	// Released whole: not copied into the attempt first, which nothing
	// reads once a text is released (the next attempt begins afresh).
	return r.emit(text)
}

// releasedText is everything the client has been sent.
func (r *releaser) releasedText() string {
	if r.first != "" {
		return r.first
	}
	return r.released.String()
}

func (r *releaser) emit(s string) error {
	switch {
	case s == "":
		return nil
	case r.first == "" && r.released.Len() == 0:
		r.first = s
	default:
		if r.first != "" {
			r.released.WriteString(r.first)
			r.first = ""
		}
		r.released.WriteString(s)
	}
	return r.sink(s)
}

// holdBackRaw returns the offset before the last n-1 runes of text: a match
// of at most n runes not yet seen whole must start at or after it.
func holdBackRaw(text string, n int) int {
	i := len(text)
	for k := 0; k < n-1 && i > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
	}
	return i
}

// holdBackNormalized is holdBackRaw for phrases, which are matched on
// normalised text where a run of white space counts as one rune.
func holdBackNormalized(text string, n int) int {
	i, count := len(text), 0
	for count < n-1 && i > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
		if unicode.IsSpace(r) {
			for i > 0 {
				r2, s2 := utf8.DecodeLastRuneInString(text[:i])
				if !unicode.IsSpace(r2) {
					break
				}
				i -= s2
			}
		}
		count++
	}
	return i
}

// isViolation reports whether err is a mid-stream constraint violation.
func isViolation(err error) (*errViolation, bool) {
	var v *errViolation
	ok := errors.As(err, &v)
	return v, ok
}
