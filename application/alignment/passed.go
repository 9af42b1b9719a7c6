package alignment

import (
	"hash/maphash"
	"sync/atomic"

	"focal/domain"
)

// passedTexts remembers texts of a policy's own (templates, the refusal)
// that broke none of a compiled policy's constraint lists, when those
// constraints are all lexical (phrases, patterns), whose verdict depends
// on the text alone: the last one of each of its slots, picked by the
// text's hash. An offline agent answers with the same few templates turn
// after turn, and checking one against a forbidden pattern ran the
// pattern's regular expression over it every turn.
type passedTexts struct {
	slots [passedSlots]atomic.Pointer[passedText]
}

// passedSlots is how many texts passedTexts holds at most: room for the
// templates agents answer with, few of them sharing a slot (with 16, the
// offline benchmark's 21 texts took one more allocation every few turns).
const passedSlots = 64

// passedSeed hashes texts to their slots.
var passedSeed = maphash.MakeSeed()

func (p *passedTexts) slot(text string) *atomic.Pointer[passedText] {
	return &p.slots[maphash.String(passedSeed, text)%passedSlots]
}

// passedText is a text that broke none of constraints, a compiled
// policy's own list, which nothing writes to; held here, it is not
// reused for another.
type passedText struct {
	constraints []domain.CheckedConstraint
	text        string
}

// known reports whether text is remembered to break none of constraints,
// the same list (not an equal one) as remembered.
func (p *passedTexts) known(constraints []domain.CheckedConstraint, text string) bool {
	if len(constraints) == 0 {
		return false
	}
	last := p.slot(text).Load()
	return last != nil && len(constraints) > 0 && len(last.constraints) == len(constraints) &&
		&last.constraints[0] == &constraints[0] && last.text == text
}

// remember notes that text broke none of constraints, a compiled policy's
// own list, when they are all lexical.
func (p *passedTexts) remember(constraints []domain.CheckedConstraint, text string) {
	if len(constraints) == 0 {
		return
	}
	for _, c := range constraints {
		switch c.Constraint.Kind {
		case domain.ConstraintForbidPhrase, domain.ConstraintForbidPattern, domain.ConstraintRequirePhrase:
		default:
			return // its verdict depends on more than the text
		}
	}
	p.slot(text).Store(&passedText{constraints: constraints, text: text})
}
