package domain

import (
	"cmp"
	"math"
	"slices"
)

// calibrationFeatures are what a condition's probability is read from: its
// margin and its lead over the best other condition (negative when another
// condition is ahead). Both matter: a message far from every condition has
// low margins everywhere, and a message between two conditions has a small
// lead for both.
const calibrationFeatures = 2

// calPoint is one observation for calibration.
type calPoint struct {
	f   [calibrationFeatures]float64
	pos bool
	// weight is how many observations the point stands for (0 means 1).
	weight float64
}

func (p calPoint) count() float64 {
	if p.weight == 0 {
		return 1
	}
	return p.weight
}

// calibration maps features to a probability: σ(w·f + b).
type calibration struct {
	w [calibrationFeatures]float64
	b float64
}

func (c calibration) prob(f [calibrationFeatures]float64) float64 { return sigmoid(c.logit(f)) }

// logit is the probability's log-odds, w·f + b.
func (c calibration) logit(f [calibrationFeatures]float64) float64 {
	z := c.b
	for i, v := range f {
		z += float64(c.w[i] * v)
	}
	return z
}

// calibrationPrior is where the calibration starts and what it is pulled
// towards: about what policies of 77 conditions with 3 to 130 examples
// each fit to (Banking77). A policy of a few conditions has too few
// examples to fit three parameters on its own; one of many barely feels
// the pull.
var calibrationPrior = calibration{w: [calibrationFeatures]float64{0.65, 0.35}, b: -0.3}

// calibrationPriorWeight is the prior's weight, as a Gaussian's precision.
const calibrationPriorWeight = 30

// fitCalibration fits a logistic regression on the points by Newton's
// method with backtracking, with Platt's smoothed targets ((n₊+1)/(n₊+2) and
// 1/(n₋+2) rather than 1 and 0) and a Gaussian prior around
// calibrationPrior, which keep the weights finite and sensible even when
// the points are few or separate perfectly.
func fitCalibration(points []calPoint) calibration {
	var nPos, nNeg float64
	for _, p := range points {
		if p.pos {
			nPos += p.count()
		} else {
			nNeg += p.count()
		}
	}
	if nPos == 0 || nNeg == 0 {
		return calibrationPrior
	}
	obj := calObjective{points: points, hi: (nPos + 1) / (nPos + 2), lo: 1 / (nNeg + 2)}
	copy(obj.prior[:], calibrationPrior.w[:])
	obj.prior[calParams-1] = calibrationPrior.b
	th := obj.prior
	f := obj.loss(th)
	for range 100 {
		g, h := obj.gradient(th)
		var gNorm float64
		for i := range g {
			gNorm = max(gNorm, math.Abs(g[i]))
		}
		// The loss sums over every point; a gradient this small against
		// it no longer moves a probability in the third decimal.
		if gNorm < 1e-6*float64(len(points)) {
			break
		}
		step := solveSmall(h, g)
		var gd float64
		for i := range g {
			step[i] = -step[i]
			gd += float64(g[i] * step[i])
		}
		t := 1.0
		for ; t >= 1e-10; t /= 2 {
			var next [calParams]float64
			for i := range th {
				next[i] = th[i] + float64(t*step[i])
			}
			if nf := obj.loss(next); nf < f+float64(1e-4*t*gd) {
				th, f = next, nf
				break
			}
		}
		if t < 1e-10 {
			break
		}
	}
	var cal calibration
	copy(cal.w[:], th[:calParams-1])
	cal.b = th[calParams-1]
	return cal
}

// calParams is the number of calibration parameters: a weight per feature
// and the bias.
const calParams = calibrationFeatures + 1

// calObjective is the penalised negative log-likelihood fitCalibration
// minimises.
type calObjective struct {
	points []calPoint
	hi, lo float64 // the smoothed targets of positives and negatives
	prior  [calParams]float64
}

func (o *calObjective) target(p calPoint) float64 {
	if p.pos {
		return o.hi
	}
	return o.lo
}

// z is the point's log-odds under th.
func (o *calObjective) z(th [calParams]float64, p calPoint) float64 {
	z := th[calParams-1]
	for i, v := range p.f {
		z += float64(th[i] * v)
	}
	return z
}

func (o *calObjective) loss(th [calParams]float64) float64 {
	var f float64
	for i := range th {
		f += float64(calibrationPriorWeight / 2 * (th[i] - o.prior[i]) * (th[i] - o.prior[i]))
	}
	for _, p := range o.points {
		z, t := o.z(th, p), o.target(p)
		// −t·log σ(z) − (1−t)·log(1−σ(z)), written to stay finite.
		if z >= 0 {
			f += float64(p.count() * (float64((1-t)*z) + log1p(exp(-z))))
		} else {
			f += float64(p.count() * (float64(-t*z) + log1p(exp(z))))
		}
	}
	return f
}

// gradient returns the loss's gradient and Hessian at th.
func (o *calObjective) gradient(th [calParams]float64) (g [calParams]float64, h [calParams][calParams]float64) {
	for _, p := range o.points {
		q := sigmoid(o.z(th, p))
		r, s := p.count()*(q-o.target(p)), p.count()*q*(1-q)
		var v [calParams]float64
		copy(v[:], p.f[:])
		v[calParams-1] = 1
		for i := range v {
			g[i] += float64(r * v[i])
			for j := range v {
				h[i][j] += float64(s * v[i] * v[j])
			}
		}
	}
	for i := range g {
		g[i] += float64(calibrationPriorWeight * (th[i] - o.prior[i]))
		h[i][i] += calibrationPriorWeight
	}
	return g, h
}

// solveSmall solves h·x = g by Gaussian elimination with partial pivoting;
// h is symmetric positive definite and tiny.
func solveSmall(h [calParams][calParams]float64, g [calParams]float64) [calParams]float64 {
	const n = calParams
	for col := range n {
		piv := col
		for r := col + 1; r < n; r++ {
			if math.Abs(h[r][col]) > math.Abs(h[piv][col]) {
				piv = r
			}
		}
		h[col], h[piv] = h[piv], h[col]
		g[col], g[piv] = g[piv], g[col]
		for r := col + 1; r < n; r++ {
			f := h[r][col] / h[col][col]
			for k := col; k < n; k++ {
				h[r][k] -= float64(f * h[col][k])
			}
			g[r] -= float64(f * g[col])
		}
	}
	var x [n]float64
	for r := n - 1; r >= 0; r-- {
		s := g[r]
		for k := r + 1; k < n; k++ {
			s -= float64(h[r][k] * x[k])
		}
		x[r] = s / h[r][r]
	}
	return x
}

// matcherCalibrationRivals bounds the negatives one example contributes:
// the conditions with the highest margins, the only ones near a threshold.
const matcherCalibrationRivals = 64

// calibrationPoints are leave-one-out observations: a sample of training
// examples, each scored as if its own condition had been trained without
// it (a positive) and by the other conditions, corrected likewise for the
// ones that trained on it (negatives). Margins on training examples would
// be overconfident; these look like a new message's.
func (m *Matcher) calibrationPoints(s *trainingSet, models []condModel) []calPoint {
	var points []calPoint
	m.leaveOneOutMargins(s, models, func(example int32, acc []float64) {
		points = appendCalPoints(points, acc, int(s.owner[example]), s.tuning.oosWeight)
	})
	return points
}

// leaveOneOutMargins calls fn with the leave-one-out margins of each sampled
// example under every condition, in example order. acc is reused.
func (m *Matcher) leaveOneOutMargins(s *trainingSet, models []condModel, fn func(example int32, acc []float64)) {
	type correction struct {
		cond  int
		delta float64
	}
	corrections := map[int32][]correction{}
	for c, model := range models {
		for _, d := range model.loo {
			corrections[d.example] = append(corrections[d.example], correction{c, d.delta})
		}
	}
	acc := newMargins(len(models))
	for i := int32(0); int(i) < s.numExamples; i++ {
		if !s.inLOOSample(i) {
			continue
		}
		m.margins(&s.xs[i], acc)
		for _, d := range corrections[i] {
			acc[d.cond] -= d.delta
		}
		fn(i, acc)
	}
}

// appendCalPoints adds the points of one message whose margins are acc and
// whose right condition is own.
func appendCalPoints(points []calPoint, acc []float64, own int, oosWeight float64) []calPoint {
	first, second := topTwo(acc)
	points = append(points, calPoint{f: [calibrationFeatures]float64{acc[own], lead(acc, own, first, second)}, pos: true})
	type rival struct {
		c int
		m float64
	}
	rivals := make([]rival, 0, len(acc))
	for c, v := range acc {
		if c != own {
			rivals = append(rivals, rival{c, v})
		}
	}
	if len(rivals) > matcherCalibrationRivals {
		slices.SortFunc(rivals, func(a, b rival) int {
			if a.m != b.m {
				return cmp.Compare(b.m, a.m)
			}
			return cmp.Compare(a.c, b.c)
		})
		rivals = rivals[:matcherCalibrationRivals]
	}
	for _, r := range rivals {
		points = append(points, calPoint{f: [calibrationFeatures]float64{r.m, lead(acc, r.c, first, second)}})
	}
	if len(acc) > 2 {
		// The same message as if its condition did not exist: the best
		// of the others now leads, yet does not apply. Without this, a
		// message that matches nothing would score high wherever one
		// condition happens to lead the others.
		best, next := -1, -1
		for c, v := range acc {
			switch {
			case c == own:
			case best < 0 || v > acc[best]:
				best, next = c, best
			case next < 0 || v > acc[next]:
				next = c
			}
		}
		points = append(points, calPoint{f: [calibrationFeatures]float64{acc[best], acc[best] - acc[next]}, weight: oosWeight})
	}
	return points
}

// topTwo returns the indexes of the largest and second largest values, the
// lower index first among equals (second is first when there is only one).
//
// A value not above the second's changes neither (the second's is never
// above the first's, unless one is NaN, which no value is above and none
// is at most), so most of a large matcher's margins cost one comparison.
func topTwo(v []float64) (first, second int) {
	if len(v) == 0 {
		return 0, 0
	}
	first, second = 0, -1
	top, next := v[0], math.NaN() // v[first], v[second]
	for i := 1; i < len(v); i++ {
		// A loop of its own: as a continue, the skip shuffled registers.
		// Four at a time while all four are skipped, as a large matcher's
		// margins nearly all are, then one at a time.
		for ; i < len(v)-3 && v[i] <= next && v[i+1] <= next && v[i+2] <= next && v[i+3] <= next; i += 4 {
		}
		for i < len(v) && v[i] <= next {
			i++
		}
		if i == len(v) {
			break
		}
		x := v[i]
		switch {
		case x > top:
			first, second, top, next = i, first, x, top
		case second < 0 || x > next:
			second, next = i, x
		}
	}
	if second < 0 {
		second = first
	}
	return first, second
}
