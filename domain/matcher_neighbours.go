package domain

import (
	"cmp"
	"math"
	"slices"
)

// matcherCommonFeature is how many conditions may share a feature before it
// stops counting for nearness: a word every condition uses says nothing
// about which are near, and following it would cost time quadratic in the
// number of conditions.
const matcherCommonFeature = 256

// nearestConditions ranks, for every condition, up to limit other
// conditions by how much their examples look like its own: the cosine of
// the summed word features (words and word pairs) of their examples.
// Character n-grams are left out because nearly every condition shares
// some, which would make this quadratic in the number of conditions.
//
// Conditions are ranked in parallel, each by one of workers; a condition's
// ranking does not depend on which.
func nearestConditions(xs []matcherVec, owner []int32, numConds, dim, limit, workers int) [][]int32 {
	centroids := wordCentroids(xs, owner, numConds, dim)
	post := centroidPostings(centroids, dim)
	out := make([][]int32, numConds)
	parallelRange(numConds, workers, func(lo, hi int) {
		acc := make([]float64, numConds)
		var touched []int32
		var rank []rankedCond
		for c := lo; c < hi; c++ {
			for _, e := range centroids[c] {
				from, to := post.start[e.id], post.start[e.id+1]
				if to-from > matcherCommonFeature {
					continue
				}
				for k := from; k < to; k++ {
					d := post.cond[k]
					if acc[d] == 0 {
						touched = append(touched, d)
					}
					acc[d] += float64(float64(e.v) * float64(post.weight[k]))
				}
			}
			rank = rank[:0]
			for _, d := range touched {
				if int(d) != c {
					rank = append(rank, rankedCond{d, acc[d]})
				}
				acc[d] = 0
			}
			touched = touched[:0]
			out[c] = topConditions(rank, limit)
		}
	})
	return out
}

// rankedCond is a neighbouring condition with its similarity.
type rankedCond struct {
	cond int32
	sim  float64
}

// topConditions sorts rank by similarity (then condition) and keeps limit.
func topConditions(rank []rankedCond, limit int) []int32 {
	best := bestFirst(rank, limit, func(a, b rankedCond) int { return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.cond, b.cond)) })
	var out []int32
	for _, r := range best {
		out = append(out, r.cond)
	}
	return out
}

// postings is the centroids by feature: the conditions holding feature f
// (ascending) and their weights are cond and weight [start[f], start[f+1]).
type postings struct {
	start  []int32
	cond   []int32
	weight []float32
}

func centroidPostings(centroids [][]matcherEntry, dim int) postings {
	start := make([]int32, dim+1)
	for _, cen := range centroids {
		for _, e := range cen {
			start[e.id+1]++
		}
	}
	for i := 1; i <= dim; i++ {
		start[i] += start[i-1]
	}
	p := postings{start: start, cond: make([]int32, start[dim]), weight: make([]float32, start[dim])}
	fill := slices.Clone(start[:dim])
	for c, cen := range centroids {
		for _, e := range cen {
			p.cond[fill[e.id]] = int32(c)
			p.weight[fill[e.id]] = e.v
			fill[e.id]++
		}
	}
	return p
}

// wordCentroids is each condition's normalised sum of its examples' word
// features, ids ascending.
func wordCentroids(xs []matcherVec, owner []int32, numConds, dim int) [][]matcherEntry {
	byCond := make([][]int32, numConds)
	for i, c := range owner {
		if c >= 0 {
			byCond[c] = append(byCond[c], int32(i))
		}
	}
	centroids := make([][]matcherEntry, numConds)
	sum := make([]float64, dim)
	for c, examples := range byCond {
		var ids []int32
		for _, i := range examples {
			for _, e := range xs[i].e[:xs[i].nWords] {
				if sum[e.id] == 0 {
					ids = append(ids, e.id)
				}
				sum[e.id] += float64(e.v)
			}
		}
		slices.Sort(ids)
		var norm float64
		for _, id := range ids {
			norm += float64(sum[id] * sum[id])
		}
		for _, id := range ids {
			centroids[c] = append(centroids[c], matcherEntry{id, float32(sum[id] / math.Sqrt(norm))})
			sum[id] = 0
		}
	}
	return centroids
}
