package domain

import (
	"math"
	"slices"
)

// denseShareNum/denseShareDen is the share of a matcher's conditions a
// feature's postings must name for smallMargins to add its weights as a
// dense row rather than posting by posting. A row costs about one
// instruction a condition where a posting costs seven, but it is kept
// beside the postings (which explain reads) and reads four bytes of every
// condition where the postings read five of each they name. Measured on
// BenchmarkTurnMatching (100 rules), margins cost 68.7k instructions a
// turn by postings alone, 43.4k with rows from three quarters (252 KB of
// rows), 33.6k from a half (567 KB), 31.4k from a quarter (1.1 MB).
const (
	denseShareNum = 1
	denseShareDen = 2
)

// denseMinPostings is the fewest postings a feature takes a dense row
// for, whatever the matcher's size: a row costs some fifty instructions
// beyond its conditions' (finding it, the call), which ten postings cost;
// at ten of twenty conditions the demo agent's turns cost more with rows
// than without.
const denseMinPostings = 16

// densePostings is the fewest postings a feature of this matcher needs for
// a dense row: above every feature's when the matcher takes no rows,
// which is when smallMargins does not read its margins (more than
// smallMatcher conditions) or a bias is -0. A row adds +0 for each
// condition the feature does not weigh, which changes only a margin of
// -0; a margin starts at its bias, and a sum that is not -0 never becomes
// -0 (in IEEE arithmetic x+y is -0 only when x and y both are), so with
// no -0 bias the rows change no margin.
func (m *Matcher) densePostings() int32 {
	n := len(m.bias)
	if m.postByte == nil || slices.ContainsFunc(m.bias, func(b float64) bool { return b == 0 && math.Signbit(b) }) {
		return math.MaxInt32
	}
	return int32(max(denseMinPostings, (n*denseShareNum+denseShareDen-1)/denseShareDen))
}

// numDense is the number of features with a dense row.
func (m *Matcher) numDense() int {
	dense := 0
	for f := range len(m.postStart) - 1 {
		if m.postStart[f+1]-m.postStart[f] >= m.denseFrom {
			dense++
		}
	}
	return dense
}

// weightsRef is where smallMargins finds a feature's weights, in one
// read: its n postings at postByte[at:] and postW[at:], or, when n
// reaches denseFrom, its row of weights by condition at denseRows[at:].
// Found from postStart, placeAt and a row index by place, a feature's
// weights took two or three reads of tables as large as the
// vocabulary, one waiting on the other: with the tables out of the
// cache, as a busy service finds them between turns, each a trip to
// memory.
type weightsRef struct{ at, n int32 }

// indexWeights sets weightsAt and denseRows from the postings, for a
// matcher smallMargins reads the margins of (others keep neither): one
// of at most smallMatcher conditions without tinyRows.
func (m *Matcher) indexWeights() {
	if m.postByte == nil || m.tinyRows != nil {
		return
	}
	n, dim := len(m.bias), len(m.postStart)-1
	m.weightsAt = make([]weightsRef, dim)
	if dense := m.numDense(); dense > 0 {
		m.denseRows = make([]float32, 0, dense*n)
	}
	for f := range dim {
		lo, hi := m.postStart[f], m.postStart[f+1]
		m.weightsAt[f] = weightsRef{at: lo, n: hi - lo}
		if hi-lo < m.denseFrom {
			continue
		}
		m.weightsAt[f].at = int32(len(m.denseRows))
		m.denseRows = m.denseRows[:len(m.denseRows)+n]
		row := m.denseRows[len(m.denseRows)-n:]
		for k := lo; k < hi; k++ {
			row[m.postByte[k]] = m.postW[k]
		}
	}
}

// marginsBlock is how many of a message's features smallMargins finds
// the weights of before it adds any.
const marginsBlock = 64

// smallMargins is margins' loop for a matcher of at most smallMatcher
// conditions (see addSmallPostings): it adds the features es, in order,
// a block of marginsBlock at a time, finding every feature's weights in
// the block before adding the first. The reads of weightsAt are then
// independent of one another and the CPU has them all on the way at
// once, where between the adding of long lists and rows each waited
// for the one before, from memory when the caches held none of the
// matcher. At a hundred rules, with weightsRef, that made scoring a
// message with the caches cold (BenchmarkScoreMessageCold) 12 to 17 %
// cheaper, and a warm one no dearer; a block of 24 or 256 measured the
// same, and reading each list's or row's first line in this pass too
// bought 2 to 4 % cold for 3 to 5 % warm.
func (m *Matcher) smallMargins(es []matcherEntry, acc *[smallMatcher]float64) {
	var refs [marginsBlock]weightsRef
	at := m.weightsAt
	for len(es) > 0 {
		block := es[:min(len(es), marginsBlock)]
		for i, e := range block {
			refs[i] = at[e.id]
		}
		m.addWeights(block, refs[:len(block)], acc)
		es = es[len(block):]
	}
}

// addWeights adds the features es, whose weights refs finds: a feature
// naming most conditions by its dense row (at a hundred rules, three
// features in four a message has, and nine postings in ten), the others
// between two such by addSmallPostings, so that every margin gets its
// products in the message's order. addSmallPostings is left without a
// call in its loop, which made it keep its slices on the stack and a
// feature with few postings cost a tenth more.
//
// The rows of features next to one another go to the kernel together
// (more than three in four of a message's rows come in runs of four or
// more), which keeps 32 margins in registers while each row of the run
// adds to them, rather than reading and writing every margin for each
// row, and reads the first weights of every row of the run before the
// next of any, so that their lines are on their way together. At a
// hundred rules, margins cost 14 % less warm and 7 % less cold than a
// row at a time. The rows go to the kernel from here, checked as the
// run is found, rather than through addDenseRows, which checks them
// again and calls once more: the old one-row wrapper's call and checks
// cost a third as much again as its kernel.
func (m *Matcher) addWeights(es []matcherEntry, refs []weightsRef, acc *[smallMatcher]float64) {
	n := len(m.bias)
	margins := acc[:n] // a row's as long, and n is not 0
	rows, denseFrom := m.denseRows, m.denseFrom
	fma := denseFMA
	refs = refs[:len(es)] // one bounds check for the loop's
	from := 0             // the first feature not added yet
	for i := 0; i < len(refs); {
		if refs[i].n < denseFrom {
			i++
			continue
		}
		end := i + 1 // the run of features with rows from i
		for end < len(refs) && refs[end].n >= denseFrom {
			end++
		}
		for _, r := range refs[i:end] {
			_ = rows[r.at:][:n] // the kernel reads each row as this would
		}
		if from < i {
			m.addSmallPostings(es[from:i], refs[from:i], acc)
		}
		if fma {
			addDenseRowsFMA(&margins[0], &rows[0], &refs[i], &es[i], end-i, n)
		} else {
			addDenseRowsGo(margins, rows, refs[i:end], es[i:end])
		}
		from, i = end, end
	}
	m.addSmallPostings(es[from:], refs[from:], acc)
}

// addDenseRowsGo is addDenseRows as Go: each row refs finds in rows, as
// long as acc, added in order by addDenseGo, times its entry's value.
// It is addDenseRows where the CPU has no vector kernel, and what the
// kernel is tested against.
func addDenseRowsGo(acc []float64, rows []float32, refs []weightsRef, es []matcherEntry) {
	es = es[:len(refs)] // one bounds check for the loop's
	for i, r := range refs {
		addDenseGo(acc, rows[r.at:][:len(acc)], float64(es[i].v))
	}
}

// addDenseGo adds a row: acc[c] += v * float64(row[c]) for every
// condition c of the row, as addSmallPostings adds a posting.
func addDenseGo(acc []float64, row []float32, v float64) {
	acc = acc[:len(row)] // one bounds check for the loop's
	for c, w := range row {
		acc[c] += float64(v * float64(w))
	}
}
