package domain

import "math"

// bestLexical is bestConditions for a message scored without semantic
// evidence, where a condition's log-odds is its lexical one, reading the
// margins acc (first and second the best two) rather than every
// condition's log-odds: it computes the log-odds of the few conditions
// whose margin could place them among the best, and compares only the
// margin of the rest. The result is the same set, to the bit.
//
// Why it is the same: for every condition but first, the log-odds is
// G(m) = b + w₀·m + w₁·(m − acc[first]), linear in its margin m with
// slope w = w₀ + w₁, which linearLexical checks is clear of 0 (it is
// usually positive, but a calibration fitted to odd data may fall with the
// margin; s·m below is then the negated margin, so that G rises with it).
// G is computed with an error far below |w|·slack for the slack below. A
// condition whose s·margin is more than slack under the one where G
// reaches the floor has log-odds below the floor; one whose s·margin is
// more than slack under that of the heap's worst member (not first) has
// log-odds strictly below it, so it could not enter the heap, not even on
// a tie. Every other condition is pushed exactly as bestConditions pushes
// it, with the same log-odds, and the heap keeps the best limit by
// (log-odds, lower index): a set that does not depend on the order
// conditions arrive in.
func (m *Matcher) bestLexical(h []scored, acc []float64, first, second int) []scored {
	limit, floor := m.opts.MaxResults, logit(m.opts.ReportFloor)
	cal, top := m.cal, acc[first]
	w, size := cal.w[0]+cal.w[1], math.Abs(cal.w[0])+math.Abs(cal.w[1])
	sign := 1.0
	if w < 0 {
		sign, w = -1, -w
	}
	// slack(x) is a margin distance safely beyond the rounding of G near
	// x: a billionth of every magnitude involved (each term over the
	// slope), where rounding moves G by a few 1e-16 of them.
	scale := 1 + (math.Abs(cal.b)+math.Abs(floor))/w + float64(size/w*math.Abs(top))
	slack := func(x float64) float64 { return float64(1e-9 * (scale + float64(2*size/w*math.Abs(x)))) }
	atFloor := (floor - cal.b + float64(cal.w[1]*top)) / w // in s·margin
	cut := atFloor - slack(atFloor)
	for c := 0; c < len(acc); c++ {
		if c != first && sign*acc[c] < cut { // else no call: a small matcher's margins are mostly not below
			if c = belowCut(acc, c, first, sign, cut); c == len(acc) {
				break
			}
		}
		a := acc[c]
		z := cal.logit([calibrationFeatures]float64{a, lead(acc, c, first, second)})
		if z < floor {
			continue
		}
		var kept bool
		if h, kept = keepBest(h, scored{z, c}, limit); !kept {
			continue
		}
		if len(h) == limit && h[0].c != first {
			worst := float64(sign * acc[h[0].c])
			cut = max(cut, worst-slack(worst))
		}
	}
	return h
}

// linearLexical reports whether the calibration's log-odds moves with the
// margin, up or down, clear of rounding (the margin's weight and the
// lead's, which the margin moves too, do not cancel out), which
// bestLexical needs; a calibration fitted otherwise is ranked the long
// way.
func (m *Matcher) linearLexical() bool {
	w0, w1, b := m.cal.w[0], m.cal.w[1], m.cal.b
	size := math.Abs(w0) + math.Abs(w1)
	return math.Abs(w0+w1) > 1e-6*size && !math.IsInf(size, 0) && !math.IsNaN(size) && !math.IsInf(b, 0) && !math.IsNaN(b)
}

// belowCut is the first condition from c on whose s·margin (s the sign)
// is not below cut, or first, or len(acc) when there is none: the
// conditions bestLexical passes over, most of a large matcher's, in a
// loop of a comparison each. s is ±1, so s·a < cut is a < cut or
// a > −cut, exactly, and false alike for a NaN. Not inlined: in
// bestLexical's body its loop kept its count on the stack.
//
//go:noinline
func belowCut(acc []float64, c, first int, sign, cut float64) int {
	if c <= first {
		acc = acc[:first]
	}
	// Counted from c so that the compiler sees every index in range.
	rest := acc[c:]
	k := 0
	// Four at a time while all four are below, as a large matcher's
	// margins nearly all are, then one at a time.
	if sign > 0 {
		for ; k < len(rest)-3 && rest[k] < cut && rest[k+1] < cut && rest[k+2] < cut && rest[k+3] < cut; k += 4 {
		}
		for k < len(rest) && rest[k] < cut {
			k++
		}
	} else {
		neg := -cut
		for ; k < len(rest)-3 && rest[k] > neg && rest[k+1] > neg && rest[k+2] > neg && rest[k+3] > neg; k += 4 {
		}
		for ; k < len(rest) && rest[k] > neg; k++ {
		}
	}
	return c + k
}
