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
// than without. It is above shortPostings, so that every dense feature
// has places (see indexPlaces).
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

// indexDense sets denseAt and denseRows from the postings and places.
func (m *Matcher) indexDense() {
	dense := m.numDense()
	if dense == 0 {
		return
	}
	n := len(m.bias)
	m.denseRows = make([]float32, 0, dense*n)
	m.denseAt = make([]int32, len(m.placeRows)/n)
	for f := range len(m.postStart) - 1 {
		if at := m.placeAt[f]; at >= 0 {
			m.denseAt[at] = -1
		}
		lo, hi := m.postStart[f], m.postStart[f+1]
		if hi-lo < m.denseFrom {
			continue
		}
		m.denseAt[m.placeAt[f]] = int32(len(m.denseRows))
		m.denseRows = m.denseRows[:len(m.denseRows)+n]
		row := m.denseRows[len(m.denseRows)-n:]
		for k := lo; k < hi; k++ {
			row[m.postByte[k]] = m.postW[k]
		}
	}
}

// denseMargins is smallMargins for a matcher with dense rows: a feature
// naming most conditions is added by its row (at a hundred rules, three
// features in four a message has, and nine postings in ten), the others
// between two such by smallMargins, so that every margin gets its
// products in the message's order. smallMargins is left without a call
// in its loop, which made it keep its slices on the stack and a feature
// with few postings cost a tenth more.
//
// A feature's row is found from its places (denseAt is -1 for a place
// whose feature has none), not by counting its postings first: the
// features with rows, most of a message's, read two indexes rather than
// four. The row goes to the kernel here, not through addDense, whose
// call and checks cost a third as much again as the kernel adding it.
func (m *Matcher) denseMargins(es []matcherEntry, acc *[smallMatcher]float64) {
	n := len(m.bias)
	margins := acc[:n] // the row's as long, and n is not 0 in a matcher with rows
	placeAt, denseAt, rows := m.placeAt, m.denseAt, m.denseRows
	fma := denseFMA
	from := 0 // the first feature not added yet
	for i, e := range es {
		place := placeAt[e.id]
		if place < 0 {
			continue
		}
		at := int(denseAt[place])
		if at < 0 {
			continue
		}
		if from < i {
			m.smallMargins(es[from:i], acc)
		}
		if row := rows[at : at+n]; fma {
			addDenseFMA(&margins[0], &row[0], n, float64(e.v))
		} else {
			addDenseGo(margins, row, float64(e.v))
		}
		from = i + 1
	}
	m.smallMargins(es[from:], acc)
}

// addDenseGo is addDense as Go: acc[c] += v * float64(row[c]) for every
// condition c of the row, as smallMargins adds a posting. It is addDense
// where the CPU has no vector kernel, and what the kernel is tested
// against.
func addDenseGo(acc []float64, row []float32, v float64) {
	acc = acc[:len(row)] // one bounds check for the loop's
	for c, w := range row {
		acc[c] += v * float64(w)
	}
}
