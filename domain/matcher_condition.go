package domain

import (
	"math"
	"slices"
	"sync"
)

// condModel is one condition's trained model.
type condModel struct {
	weights condWeights
	// loo holds, for the sampled examples that trained the model, how much
	// their presence moved their own margin: their margin had they been
	// left out is the model's margin minus delta.
	loo []looDelta
}

type looDelta struct {
	example int32
	delta   float64
}

// condWeights is one condition's weights, kept sparse.
type condWeights struct {
	ids  []int32
	w    []float32
	bias float64
}

// trainScratch is one worker's dense buffers, each dim+1 long and zero
// between conditions, and the arrays one condition's training fills and
// the next reuses: a condition of a large policy trains on thousands of
// rows, and allocating them afresh for each of ten thousand conditions
// made most of a compile's garbage.
type trainScratch struct {
	w, saved, curvature []float64
	own                 []bool
	problem             lrProblem
	members             []int32
	solver              dualLR
	ids                 []int32   // the weights collectWeights keeps, before they are copied out
	kept                []float32 // their values
}

// train fits every condition, in parallel; each condition's model depends
// only on the set, so the result does not depend on scheduling.
func (s *trainingSet) train(opts MatcherOptions) []condModel {
	models := make([]condModel, len(s.byCond))
	dim := len(s.vocab.icf)
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, min(opts.Workers, len(models))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scratch := &trainScratch{w: make([]float64, dim+1), saved: make([]float64, dim+1), curvature: make([]float64, dim+1), own: make([]bool, dim)}
			for c := range next {
				models[c] = s.trainCondition(c, opts.Cost, scratch)
			}
		}()
	}
	for c := range models {
		next <- c
	}
	close(next)
	wg.Wait()
	return models
}

// problem builds condition c's binary problem: its examples against its
// negatives, the examples of its nearest competitors, and one summary (the
// centroid, weighed as all its examples) of each further competitor. Far
// conditions' examples teach a condition little, and training on every
// example of every condition would cost time quadratic in the policy.
// It fills scratch's problem and members (the example index per problem
// row; -1 for a centroid).
func (s *trainingSet) problem(c int, cost float64, scratch *trainScratch) (*lrProblem, []int32) {
	p := &scratch.problem
	p.xs, p.xsq, p.y, p.cost = p.xs[:0], p.xsq[:0], p.y[:0], p.cost[:0]
	members := scratch.members[:0]
	add := func(x *matcherVec, sq, y, cost float64, i int32) {
		p.xs = append(p.xs, x)
		p.xsq = append(p.xsq, sq)
		p.y = append(p.y, y)
		p.cost = append(p.cost, cost)
		members = append(members, i)
	}
	for k, i := range s.byCond[c] {
		y := -1.0
		if k < s.counts[c] {
			y = 1
		}
		add(&s.xs[i], s.sq[i], y, cost*s.costFactor[i], i)
	}
	for rank, d := range s.competitors[c] {
		switch {
		case rank < s.tuning.neighbours:
			for _, i := range s.byCond[d][:s.counts[d]] {
				add(&s.xs[i], s.sq[i], -1, cost, i)
			}
		case s.counts[d] > 0:
			add(&s.centroids[d], s.centroidSq[d], -1, cost*float64(s.counts[d]), -1)
		}
	}
	scratch.members = members
	return p, members
}

// trainCondition fits condition c and measures how its sampled examples'
// margins depend on their own presence.
func (s *trainingSet) trainCondition(c int, cost float64, scratch *trainScratch) condModel {
	p, members := s.problem(c, cost, scratch)
	w := scratch.w
	solver := newDualLR(p, w, matcherBiasValue, uint64(c)+1, &scratch.solver)
	solver.run(s.fullEpochs, -1)
	solver.shrink(s.tuning.shrinkFloor)
	solver.run(s.epochs-s.fullEpochs, -1)
	var model condModel
	var rivals []int // rows of sampled examples of other conditions
	// Leave-one-out margins are taken before the weights are collected,
	// which clears them.
	for k, i := range members {
		switch {
		case i < 0 || !s.inLOOSample(i):
		case s.owner[i] == int32(c):
			// The condition's own example: retrain without it.
			full := solver.margin(p.xs[k])
			loo := solver.leaveOneOut(k, s.tuning.looEpochs, scratch.saved)
			model.loo = append(model.loo, looDelta{i, full - loo})
		default:
			rivals = append(rivals, k)
		}
	}
	if len(rivals) > 0 {
		for _, d := range approxLOODeltas(solver, rivals, scratch.curvature) {
			model.loo = append(model.loo, looDelta{members[d.row], d.delta})
		}
	}
	model.weights = s.collectWeights(c, p, scratch)
	return model
}

// collectWeights keeps condition c's trained weights sparse. Small weights
// are dropped so that scoring visits few of them; a weight counts as small
// by what it typically adds to a margin, its size times its feature's
// weight in a vector, and the bar is higher for features none of the
// condition's examples has. What the dropped ones add on average moves
// into the bias, so that dropping them does not shift every margin of the
// condition one way. Collecting a weight clears it, which leaves the
// scratch zero for the next condition.
func (s *trainingSet) collectWeights(c int, p *lrProblem, scratch *trainScratch) condWeights {
	w, own := scratch.w, scratch.own
	last := len(w) - 1
	cw := condWeights{bias: w[last] * matcherBiasValue, ids: scratch.ids[:0], w: scratch.kept[:0]}
	w[last] = 0
	mark := func(v bool) {
		for _, i := range s.byCond[c][:s.counts[c]] {
			for _, e := range s.xs[i].e {
				own[e.id] = v
			}
		}
	}
	mark(true)
	collect := func(id int32) {
		v := w[id]
		if v == 0 {
			return
		}
		floor := s.tuning.pruneWeight
		if !own[id] {
			floor = s.tuning.pruneForeign
		}
		if math.Abs(v)*s.vocab.icf[id] >= floor {
			cw.ids = append(cw.ids, id)
			cw.w = append(cw.w, float32(v))
		} else {
			cw.bias += float64(v * s.meanValue[id])
		}
		w[id] = 0
	}
	// Whichever is shorter: every weight, or the problem's features.
	touched := 0
	for _, x := range p.xs {
		touched += len(x.e)
	}
	if touched > last {
		for id := range int32(last) {
			collect(id)
		}
	} else {
		for _, x := range p.xs {
			for _, e := range x.e {
				collect(e.id)
			}
		}
	}
	mark(false)
	// The kept weights leave in arrays of their own size; the scratch's
	// grow to the largest condition's and stay.
	scratch.ids, scratch.kept = cw.ids, cw.w
	cw.ids, cw.w = nil, nil
	if len(scratch.ids) > 0 {
		cw.ids, cw.w = slices.Clone(scratch.ids), slices.Clone(scratch.kept)
	}
	return cw
}

type rowDelta struct {
	row   int
	delta float64
}

// approxLOODeltas estimates, for the given rows, how much each one's
// presence moved its own margin, without retraining: removing row i moves w
// by about α_i·y_i·H⁻¹x_i (one Newton step), with H the Hessian of the
// training objective without i, taken as its diagonal 1 + Σ_k s_k·x_kj²
// where s_k = C_k·σ(m_k)(1−σ(m_k)), which at the optimum is α_k(1 − α_k/C_k).
// Unlike the plain bound α_i·‖x_i‖², this does not treat an example as if
// no other example backed it up. curvature is dim+1 zeros, left zero.
func approxLOODeltas(solver *dualLR, rows []int, curvature []float64) []rowDelta {
	p := solver.p
	last := len(curvature) - 1
	s := make([]float64, len(p.xs))
	for k, x := range p.xs {
		a := solver.dual(k)
		s[k] = a * (1 - a/p.cost[k])
		if s[k] < 1e-3*p.cost[k] {
			s[k] = 0
			continue // a settled example bends the objective too little to count
		}
		for _, e := range x.e {
			curvature[e.id] += float64(s[k] * float64(e.v) * float64(e.v))
		}
		curvature[last] += float64(s[k] * solver.bias * solver.bias)
	}
	out := make([]rowDelta, 0, len(rows))
	for _, k := range rows {
		var q float64
		for _, e := range p.xs[k].e {
			v2 := float64(e.v) * float64(e.v)
			q += v2 / (1 + curvature[e.id] - float64(s[k]*v2))
		}
		b2 := solver.bias * solver.bias
		q += b2 / (1 + curvature[last] - float64(s[k]*b2))
		out = append(out, rowDelta{k, p.y[k] * solver.dual(k) * q})
	}
	for k, x := range p.xs {
		if s[k] > 0 {
			for _, e := range x.e {
				curvature[e.id] = 0
			}
		}
	}
	curvature[last] = 0
	return out
}
