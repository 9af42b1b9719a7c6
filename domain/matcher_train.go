package domain

import (
	"math"
	"math/rand/v2"
)

// lrProblem is one condition's binary problem: its own examples against
// those of the conditions it competes with.
type lrProblem struct {
	xs   []*matcherVec
	xsq  []float64 // ‖x‖² of each
	y    []float64 // +1 for the condition's examples, -1 for the others
	cost []float64 // per example upper bound of its dual variable (C)
}

// dualLR trains L2-regularised logistic regression by dual coordinate
// descent (Yu, Huang and Lin, 2011), the method liblinear uses: each step
// solves one example's dual variable exactly by a few Newton steps and
// updates w in place, so a pass costs one read and one write of every
// example's features. The visiting order comes from a seeded generator, so
// the same problem always gives the same w.
type dualLR struct {
	p *lrProblem
	// w holds dim+1 weights, the last for a constant bias feature.
	w        []float64
	bias     float64 // the bias feature's value
	alpha    []float64
	xsq      []float64
	order    []int // the rows a pass visits, in the pass's order
	rng      *rand.Rand
	innerEps float64
	saved    []float64 // alpha saved across a leave-one-out
}

// newDualLR starts from w = 0 (w must be zero). Each dual variable starts
// at 1e-8, as in liblinear, without adding its 1e-8·x to w: the error is
// below float precision of any weight that matters, and it saves a pass.
// The solver is reuse, its arrays reused too: a solver before it is gone.
func newDualLR(p *lrProblem, w []float64, biasValue float64, seed uint64, reuse *dualLR) *dualLR {
	l := len(p.xs)
	s := reuse
	*s = dualLR{p: p, w: w, bias: biasValue, alpha: resized(s.alpha, 2*l), xsq: resized(s.xsq, l),
		order: resized(s.order, l), rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), innerEps: 1e-2,
		saved: s.saved}
	for i := range p.xs {
		// alpha[2i] is the dual variable, alpha[2i+1] its complement C − alpha[2i].
		c := p.cost[i]
		s.alpha[2*i] = min(0.001*c, 1e-8)
		s.alpha[2*i+1] = c - s.alpha[2*i]
		s.xsq[i] = p.xsq[i] + float64(biasValue*biasValue)
		s.order[i] = i
	}
	return s
}

// resized is buf at length n, reallocated when too short; what it holds
// is left for the caller to overwrite.
func resized[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// shrink restricts later passes to the condition's own examples and the
// others whose dual variable exceeds floor × its bound: an example the
// model already rejects by a wide margin has a tiny dual variable that
// another pass would barely move.
func (s *dualLR) shrink(floor float64) {
	s.order = s.order[:0]
	for i := range s.p.xs {
		if s.p.y[i] > 0 || s.alpha[2*i] > floor*s.p.cost[i] {
			s.order = append(s.order, i)
		}
	}
}

// margin is w·x plus the bias.
func (s *dualLR) margin(x *matcherVec) float64 {
	return matcherDot(s.w, x) + float64(s.w[len(s.w)-1]*s.bias)
}

// run makes up to maxEpochs passes, leaving out example skip (-1 for none),
// and stops early once no dual variable's gradient exceeds liblinear's
// default tolerance.
func (s *dualLR) run(maxEpochs, skip int) {
	const (
		eps         = 0.1
		innerEpsMin = 1e-8
	)
	for epoch := 0; epoch < maxEpochs; epoch++ {
		s.rng.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
		newtonSteps := 0
		gMax := 0.0
		for _, i := range s.order {
			if i == skip {
				continue
			}
			g, steps := s.update(i)
			gMax = max(gMax, g)
			newtonSteps += steps
		}
		if gMax < eps {
			break
		}
		if newtonSteps <= len(s.order)/10 {
			s.innerEps = max(innerEpsMin, 0.1*s.innerEps)
		}
	}
}

// update solves example i's one-variable dual sub-problem by Newton steps
// and moves w with it. It returns the size of the gradient before the
// steps and how many steps it took.
func (s *dualLR) update(i int) (gradient float64, steps int) {
	const (
		maxInnerSteps = 100
		eta           = 0.1
	)
	p, alpha, last := s.p, s.alpha, len(s.w)-1
	yi, c := p.y[i], p.cost[i]
	a := s.xsq[i]
	b := float64(yi * s.margin(p.xs[i]))
	i1, i2, sign := 2*i, 2*i+1, 1.0
	if float64(0.5*a*(alpha[i2]-alpha[i1]))+b < 0 {
		i1, i2, sign = 2*i+1, 2*i, -1
	}
	old := alpha[i1]
	z := old
	if c-z < 0.5*c {
		z *= 0.1
	}
	gp := float64(a*(z-old)) + float64(sign*b) + log(z/(c-z))
	gradient = math.Abs(gp)
	for ; steps <= maxInnerSteps && math.Abs(gp) >= s.innerEps; steps++ {
		gpp := a + c/(c-z)/z
		if t := z - gp/gpp; t <= 0 {
			z *= eta
		} else {
			z = t
		}
		gp = float64(a*(z-old)) + float64(sign*b) + log(z/(c-z))
	}
	if steps > 0 {
		alpha[i1], alpha[i2] = z, c-z
		d := sign * (z - old) * yi
		matcherAxpy(s.w, p.xs[i], d)
		s.w[last] += float64(d * s.bias)
	}
	return gradient, steps
}

// dual is example i's dual variable: its weight in w = Σ α_i·y_i·x_i.
func (s *dualLR) dual(i int) float64 { return s.alpha[2*i] }

// leaveOneOut is example i's margin once the model is retrained without it:
// i's share of w is taken out and a few passes over the rest, warm-started
// from the current solution, restore optimality. The model is left as it was.
func (s *dualLR) leaveOneOut(i, epochs int, savedW []float64) float64 {
	s.saved = resized(s.saved, len(s.alpha))
	copy(savedW, s.w)
	copy(s.saved, s.alpha)
	inner := s.innerEps
	d := -s.p.y[i] * s.alpha[2*i]
	matcherAxpy(s.w, s.p.xs[i], d)
	s.w[len(s.w)-1] += float64(d * s.bias)
	s.run(epochs, i)
	m := s.margin(s.p.xs[i])
	copy(s.w, savedW)
	copy(s.alpha, s.saved)
	s.innerEps = inner
	return m
}

func matcherDot(w []float64, x *matcherVec) float64 {
	var s float64
	for _, e := range x.e {
		s += float64(w[e.id] * float64(e.v))
	}
	return s
}

func matcherAxpy(w []float64, x *matcherVec, a float64) {
	for _, e := range x.e {
		w[e.id] += float64(a * float64(e.v))
	}
}
