package domain

import (
	"math"
	"slices"
	"sync"
)

// matcherTuning holds the model's internal settings. They are not options:
// the defaults were chosen by measurement on Banking77, and tests vary them
// to show what each is worth.
type matcherTuning struct {
	epochs        int     // passes of dual coordinate descent per condition, at least
	fullEpochs    int     // of which over every example; the rest skip settled ones
	passBudget    int     // feature visits the training may spend on more passes
	shrinkFloor   float64 // a dual variable below this share of its bound is settled
	neighbours    int     // nearest competitors whose examples a condition trains against
	farCentroids  int     // further competitors it trains against through their centroid
	pruneWeight   float64 // weights smaller than this are dropped from the postings
	looSample     int     // examples whose leave-one-out margin calibrates scores
	looEpochs     int     // passes that retrain a condition without one example
	negationScope int     // words a negation covers
	twinCost      float64 // weight of each example's negated twin as a negative (0: none)
	negativeCost  float64 // weight of a condition's own negative example
}

var defaultMatcherTuning = matcherTuning{
	epochs: 8, fullEpochs: 2, passBudget: 64 << 20, shrinkFloor: 0.01, neighbours: 16, farCentroids: 64, pruneWeight: 0.03,
	looSample: 256, looEpochs: 1, negationScope: 20, twinCost: 1, negativeCost: 3,
}

// trainingSet is every condition's examples and negatives, vectorised.
type trainingSet struct {
	tuning matcherTuning
	vocab  *matcherVocab
	xs     []matcherVec
	// owner is each vector's condition, or -(c+1) for a negative of c.
	owner      []int32
	costFactor []float64 // per vector, its share of the cost
	sq         []float64 // ‖x‖² of each vector
	byCond     [][]int32 // per condition, its examples then its negatives
	counts     []int     // per condition, its number of examples
	centroids  []matcherVec
	// competitors lists each condition's competitors, nearest first.
	competitors [][]int32
	// looStride picks the examples whose leave-one-out margins calibrate
	// the scores: every looStride-th of the examples.
	looStride   int
	numExamples int
	// epochs and fullEpochs are the passes each condition gets: the
	// tuning's, scaled up while a full pass over every problem fits the
	// budget several times over, since small policies can afford a fit
	// closer to the optimum.
	epochs, fullEpochs int
}

func newTrainingSet(conds []MatcherCondition, tuning matcherTuning, workers int) *trainingSet {
	var texts []string
	var owner []int32
	for c, cond := range conds {
		for _, e := range cond.Examples {
			texts = append(texts, e)
			owner = append(owner, int32(c))
		}
	}
	numExamples := len(texts)
	for c, cond := range conds {
		for _, e := range cond.Negatives {
			texts = append(texts, e)
			owner = append(owner, -int32(c)-1)
		}
	}
	docs := make([]matcherFeatures, len(texts))
	wordsOf := make([][]matcherWord, len(texts))
	parallelRange(len(texts), workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			wordsOf[i] = matcherWords(texts[i], tuning.negationScope)
			docs[i] = extractFeatures(wordsOf[i])
		}
	})
	costFactor := make([]float64, len(texts))
	for i := range costFactor {
		costFactor[i] = 1
		if i >= numExamples {
			costFactor[i] = tuning.negativeCost
		}
	}
	if tuning.twinCost > 0 {
		for i := range numExamples {
			if twin, ok := negatedTwin(wordsOf[i]); ok {
				docs = append(docs, twin)
				owner = append(owner, -owner[i]-1)
				costFactor = append(costFactor, tuning.twinCost)
			}
		}
	}
	s := &trainingSet{tuning: tuning, owner: owner, costFactor: costFactor, byCond: make([][]int32, len(conds)),
		counts: make([]int, len(conds)), numExamples: numExamples}
	s.vocab, s.xs = vectorizeExamples(docs, owner, len(conds))
	s.sq = make([]float64, len(s.xs))
	for i := range s.xs {
		s.sq[i] = s.xs[i].normSquared()
	}
	for i, o := range owner {
		if o < 0 {
			o = -o - 1
		} else {
			s.counts[o]++
		}
		s.byCond[o] = append(s.byCond[o], int32(i))
	}
	s.centroids = make([]matcherVec, len(conds))
	sum := make([]float64, len(s.vocab.icf))
	for c := range conds {
		s.centroids[c] = s.centroid(c, sum)
	}
	s.looStride = max(1, (numExamples+tuning.looSample-1)/max(1, tuning.looSample))
	s.competitors = nearestConditions(s.xs, owner, len(conds), len(s.vocab.icf), tuning.neighbours+tuning.farCentroids)
	s.epochs, s.fullEpochs = tuning.epochs, tuning.fullEpochs
	if pass := s.passCost(); pass > 0 {
		scale := min(3, max(1, tuning.passBudget/(pass*tuning.fullEpochs)))
		s.epochs, s.fullEpochs = scale*tuning.epochs, scale*tuning.fullEpochs
	}
	return s
}

// passCost is the feature visits of one pass over every condition's problem.
func (s *trainingSet) passCost() int {
	nnz := make([]int, len(s.byCond)) // per condition, its examples' features
	for c := range s.byCond {
		for _, i := range s.byCond[c][:s.counts[c]] {
			nnz[c] += len(s.xs[i].e)
		}
	}
	total := 0
	for c := range s.byCond {
		for _, i := range s.byCond[c] {
			total += len(s.xs[i].e)
		}
		for rank, d := range s.competitors[c] {
			if rank < s.tuning.neighbours {
				total += nnz[d]
			} else {
				total += len(s.centroids[d].e)
			}
		}
	}
	return total
}

// centroid is the mean of condition c's example vectors, ids ascending.
// sum is dim zeros, left zero.
func (s *trainingSet) centroid(c int, sum []float64) matcherVec {
	var ids []int32
	for _, i := range s.byCond[c][:s.counts[c]] {
		for _, e := range s.xs[i].e {
			if sum[e.id] == 0 {
				ids = append(ids, e.id)
			}
			sum[e.id] += float64(e.v)
		}
	}
	slices.Sort(ids)
	out := matcherVec{e: make([]matcherEntry, len(ids))}
	for k, id := range ids {
		out.e[k] = matcherEntry{id, float32(sum[id] / float64(s.counts[c]))}
		sum[id] = 0
	}
	return out
}

// inLOOSample reports whether example i calibrates the scores.
func (s *trainingSet) inLOOSample(i int32) bool {
	return int(i) < s.numExamples && int(i)%s.looStride == 0
}

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
// between conditions.
type trainScratch struct {
	w, saved, curvature []float64
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
			scratch := &trainScratch{w: make([]float64, dim+1), saved: make([]float64, dim+1), curvature: make([]float64, dim+1)}
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
func (s *trainingSet) problem(c int, cost float64) (*lrProblem, []int32) {
	p := &lrProblem{}
	var members []int32 // example index per problem row; -1 for a centroid
	add := func(x *matcherVec, y, cost float64, i int32) {
		p.xs = append(p.xs, x)
		if i >= 0 {
			p.xsq = append(p.xsq, s.sq[i])
		} else {
			p.xsq = append(p.xsq, x.normSquared())
		}
		p.y = append(p.y, y)
		p.cost = append(p.cost, cost)
		members = append(members, i)
	}
	for k, i := range s.byCond[c] {
		y := -1.0
		if k < s.counts[c] {
			y = 1
		}
		add(&s.xs[i], y, cost*s.costFactor[i], i)
	}
	for rank, d := range s.competitors[c] {
		switch {
		case rank < s.tuning.neighbours:
			for _, i := range s.byCond[d][:s.counts[d]] {
				add(&s.xs[i], -1, cost, i)
			}
		case s.counts[d] > 0:
			add(&s.centroids[d], -1, cost*float64(s.counts[d]), -1)
		}
	}
	return p, members
}

// trainCondition fits condition c and measures how its sampled examples'
// margins depend on their own presence.
func (s *trainingSet) trainCondition(c int, cost float64, scratch *trainScratch) condModel {
	p, members := s.problem(c, cost)
	w := scratch.w
	solver := newDualLR(p, w, matcherBiasValue, uint64(c)+1)
	solver.run(s.fullEpochs, -1)
	solver.shrink(s.tuning.shrinkFloor)
	solver.run(s.epochs-s.fullEpochs, -1)
	var model condModel
	var rivals []int // rows of sampled examples of other conditions
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
	// Collecting a weight clears it, which leaves w zero for the next
	// condition at the cost of the features this problem touched only.
	cw := &model.weights
	for _, x := range p.xs {
		for _, e := range x.e {
			if v := w[e.id]; v != 0 {
				if math.Abs(v) >= s.tuning.pruneWeight {
					cw.ids = append(cw.ids, e.id)
					cw.w = append(cw.w, float32(v))
				}
				w[e.id] = 0
			}
		}
	}
	last := len(w) - 1
	cw.bias = w[last] * matcherBiasValue
	w[last] = 0
	return model
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
		if s[k] < 1e-6 {
			continue // a settled example bends the objective too little to count
		}
		for _, e := range x.e {
			curvature[e.id] += s[k] * float64(e.v) * float64(e.v)
		}
		curvature[last] += s[k] * solver.bias * solver.bias
	}
	out := make([]rowDelta, 0, len(rows))
	for _, k := range rows {
		var q float64
		for _, e := range p.xs[k].e {
			v2 := float64(e.v) * float64(e.v)
			q += v2 / (1 + curvature[e.id] - s[k]*v2)
		}
		b2 := solver.bias * solver.bias
		q += b2 / (1 + curvature[last] - s[k]*b2)
		out = append(out, rowDelta{k, p.y[k] * solver.dual(k) * q})
	}
	for k, x := range p.xs {
		if s[k] >= 1e-6 {
			for _, e := range x.e {
				curvature[e.id] = 0
			}
		}
	}
	curvature[last] = 0
	return out
}

// parallelRange splits [0, n) into one contiguous part per worker and runs
// fn on each part concurrently, returning when all are done.
func parallelRange(n, workers int, fn func(lo, hi int)) {
	workers = max(1, min(workers, n))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// negatedTwin is an example without negation, negated: "not" first and
// every word in its scope. It trains its condition as a negative, so that
// "I don't want to talk to a human" loses what "I want to talk to a human"
// gains. It has word features only: its character n-grams are the
// example's own, and training against them would unlearn spelling
// variants along with the negation.
func negatedTwin(words []matcherWord) (matcherFeatures, bool) {
	for _, w := range words {
		if w.stem == "not" || w.negated {
			return matcherFeatures{}, false
		}
	}
	twin := []matcherWord{{stem: "not"}}
	for _, w := range words {
		w.negated = true
		twin = append(twin, w)
	}
	f := extractFeatures(twin)
	f.chars = nil
	return f, true
}
