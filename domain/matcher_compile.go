package domain

import (
	"cmp"
	"slices"
	"sync"
)

// matcherTuning holds the model's internal settings. They are not options:
// the defaults were chosen by measurement on Banking77, and tests vary them
// to show what each is worth.
type matcherTuning struct {
	epochs           int     // passes of dual coordinate descent per condition, at least
	fullEpochs       int     // of which over every example; the rest skip settled ones
	passBudget       int     // feature visits the training may spend on more passes
	maxPassScale     int     // the most passes may be multiplied by under the budget
	shrinkFloor      float64 // a dual variable below this share of its bound is settled
	neighbours       int     // nearest competitors whose examples a condition trains against
	farCentroids     int     // further competitors it trains against through their centroid
	centroidFeatures int     // features a centroid keeps
	pruneWeight      float64 // weights adding less than this to a typical margin are dropped
	pruneForeign     float64 // the same for features none of the condition's examples has
	looSample        int     // examples whose leave-one-out margin calibrates scores
	looEpochs        int     // passes that retrain a condition without one example
	negationScope    int     // words a negation covers
	twinCost         float64 // weight of each example's negated twin as a negative (0: none)
	negativeCost     float64 // weight of a condition's own negative example
	oosWeight        float64 // weight of the matching-nothing view in calibration
}

var defaultMatcherTuning = matcherTuning{
	epochs: 6, fullEpochs: 1, passBudget: 64 << 20, maxPassScale: 3, shrinkFloor: 0.01,
	neighbours: 24, farCentroids: 64, centroidFeatures: 256,
	pruneWeight: 0.1, pruneForeign: 0.2,
	looSample: 256, looEpochs: 1,
	negationScope: 20, twinCost: 1, negativeCost: 3, oosWeight: 0.5,
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
	// meanValue is each feature's mean value over the examples.
	meanValue []float64
	byCond    [][]int32 // per condition, its examples then its negatives
	counts    []int     // per condition, its number of examples
	centroids []matcherVec
	// centroidSq is ‖c‖² of each centroid, which every problem holding
	// the centroid reads.
	centroidSq []float64
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

// newTrainingSet analyses and vectorises conds' examples and negatives,
// adds a negated twin of each example, and finds each condition's
// competitors.
func newTrainingSet(conds []MatcherCondition, tuning matcherTuning, workers int) *trainingSet {
	docs, owner, costFactor, numExamples := analyseConditions(conds, tuning, workers)
	s := &trainingSet{tuning: tuning, owner: owner, costFactor: costFactor, byCond: make([][]int32, len(conds)),
		counts: make([]int, len(conds)), numExamples: numExamples}
	s.vocab, s.xs = vectorizeExamples(docs, owner, len(conds), workers)
	dim := len(s.vocab.icf)
	s.sq = make([]float64, len(s.xs))
	for i := range s.xs {
		s.sq[i] = s.xs[i].normSquared()
	}
	s.meanValue = make([]float64, dim)
	for i := range numExamples {
		for _, e := range s.xs[i].e {
			s.meanValue[e.id] += float64(e.v) / float64(numExamples)
		}
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
	s.centroidSq = make([]float64, len(conds))
	parallelRange(len(conds), workers, func(lo, hi int) {
		sum := make([]float64, dim)
		for c := lo; c < hi; c++ {
			s.centroids[c] = s.centroid(c, sum)
			s.centroidSq[c] = s.centroids[c].normSquared()
		}
	})
	s.looStride = max(1, (numExamples+tuning.looSample-1)/max(1, tuning.looSample))
	s.competitors = nearestConditions(s.xs, owner, len(conds), dim, tuning.neighbours+tuning.farCentroids, workers)
	s.epochs, s.fullEpochs = tuning.epochs, tuning.fullEpochs
	if pass := s.passCost(); pass > 0 {
		scale := min(tuning.maxPassScale, max(1, tuning.passBudget/(pass*tuning.fullEpochs)))
		s.epochs, s.fullEpochs = scale*tuning.epochs, scale*tuning.fullEpochs
	}
	return s
}

// analyseConditions turns every example, then every negative, into
// features, in parallel, and appends the negated twins. owner is each
// doc's condition, or -(c+1) for a negative of c; costFactor its weight.
func analyseConditions(conds []MatcherCondition, tuning matcherTuning, workers int) (docs []matcherFeatures, owner []int32, costFactor []float64, numExamples int) {
	var texts []string
	for c, cond := range conds {
		for _, e := range cond.Examples {
			texts = append(texts, e)
			owner = append(owner, int32(c))
			costFactor = append(costFactor, 1)
		}
	}
	numExamples = len(texts)
	for c, cond := range conds {
		for _, e := range cond.Negatives {
			texts = append(texts, e)
			owner = append(owner, -int32(c)-1)
			costFactor = append(costFactor, tuning.negativeCost)
		}
	}
	docs = make([]matcherFeatures, len(texts))
	words := make([][]matcherWord, len(texts))
	parallelRange(len(texts), workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			words[i] = matcherWords(texts[i], tuning.negationScope)
			docs[i] = sortedFeatures(extractFeatures(words[i]))
		}
	})
	if tuning.twinCost > 0 {
		for i := range numExamples {
			if twin, ok := negatedTwin(words[i]); ok {
				docs = append(docs, twin)
				owner = append(owner, -owner[i]-1)
				costFactor = append(costFactor, tuning.twinCost)
			}
		}
	}
	return docs, owner, costFactor, numExamples
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

// centroid is the mean of condition c's example vectors, ids ascending,
// cut to its centroidFeatures largest values: a far competitor only needs
// its main directions, and a full centroid would make every problem that
// holds it cost as much as all its examples. sum is dim zeros, left zero.
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
	if limit := s.tuning.centroidFeatures; len(ids) > limit {
		bestFirst(ids, limit, func(a, b int32) int { return cmp.Or(cmp.Compare(sum[b], sum[a]), cmp.Compare(a, b)) })
		for _, id := range ids[limit:] {
			sum[id] = 0
		}
		ids = ids[:limit]
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
	return sortedFeatures(f), true
}

// bestFirst moves the k best of s (by order, which must rank no two
// elements alike, so that the best k are one set) to s[:k], in order, and
// returns them; s[k:] holds the others, in no order. It costs n·log k
// comparisons where sorting all of s cost n·log n: the compile keeps the
// 88 nearest of up to ten thousand conditions, and the 1,024 largest
// weights of a feature's postings, many times over.
func bestFirst[T any](s []T, k int, order func(a, b T) int) []T {
	if k >= len(s) {
		slices.SortFunc(s, order)
		return s
	}
	if k <= 0 {
		return s[:0]
	}
	// s[:k] is a heap with the worst kept element at its root.
	worse := func(i, j int) bool { return order(s[i], s[j]) > 0 }
	down := func(i int) {
		for {
			w := i
			if l := 2*i + 1; l < k && worse(l, w) {
				w = l
			}
			if r := 2*i + 2; r < k && worse(r, w) {
				w = r
			}
			if w == i {
				return
			}
			s[i], s[w] = s[w], s[i]
			i = w
		}
	}
	for i := k/2 - 1; i >= 0; i-- {
		down(i)
	}
	for i := k; i < len(s); i++ {
		if order(s[i], s[0]) < 0 {
			s[0], s[i] = s[i], s[0]
			down(0)
		}
	}
	slices.SortFunc(s[:k], order)
	return s[:k]
}
