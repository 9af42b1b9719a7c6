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
func nearestConditions(xs []matcherVec, owner []int32, numConds, dim, limit int) [][]int32 {
	centroids := wordCentroids(xs, owner, numConds, dim)
	// The centroids by feature, conditions ascending.
	start := make([]int32, dim+1)
	for _, cen := range centroids {
		for _, e := range cen {
			start[e.id+1]++
		}
	}
	for i := 1; i <= dim; i++ {
		start[i] += start[i-1]
	}
	postCond := make([]int32, start[dim])
	postW := make([]float32, start[dim])
	fill := slices.Clone(start[:dim])
	for c, cen := range centroids {
		for _, e := range cen {
			postCond[fill[e.id]] = int32(c)
			postW[fill[e.id]] = e.v
			fill[e.id]++
		}
	}
	type ranked struct {
		cond int32
		sim  float64
	}
	out := make([][]int32, numConds)
	acc := make([]float64, numConds)
	var touched []int32
	var rank []ranked
	for c, cen := range centroids {
		for _, e := range cen {
			lo, hi := start[e.id], start[e.id+1]
			if hi-lo > matcherCommonFeature {
				continue
			}
			for k := lo; k < hi; k++ {
				d := postCond[k]
				if acc[d] == 0 {
					touched = append(touched, d)
				}
				acc[d] += float64(e.v) * float64(postW[k])
			}
		}
		rank = rank[:0]
		for _, d := range touched {
			if int(d) != c {
				rank = append(rank, ranked{d, acc[d]})
			}
			acc[d] = 0
		}
		touched = touched[:0]
		slices.SortFunc(rank, func(a, b ranked) int { return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.cond, b.cond)) })
		for _, r := range rank[:min(limit, len(rank))] {
			out[c] = append(out[c], r.cond)
		}
	}
	return out
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
			norm += sum[id] * sum[id]
		}
		for _, id := range ids {
			centroids[c] = append(centroids[c], matcherEntry{id, float32(sum[id] / math.Sqrt(norm))})
			sum[id] = 0
		}
	}
	return centroids
}
