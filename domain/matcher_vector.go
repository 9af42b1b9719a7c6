package domain

import (
	"math"
	"slices"
)

// matcherVocab maps the feature hashes seen in training to dense ids and
// weighs each feature by its inverse condition frequency.
type matcherVocab struct {
	ids map[uint64]int32
	icf []float64
	// unknownWeight weighs a feature no training text had, as if it were
	// the rarest there is. It counts in a message's norm, so a message
	// made mostly of words the policy never saw has little weight left on
	// the ones it did and scores low everywhere.
	unknownWeight float64
}

// matcherEntry is one feature of a sparse vector.
type matcherEntry struct {
	id int32
	v  float32
}

// matcherVec is a sparse feature vector. The first nWords entries are word
// features, the rest character n-grams; each block has unit length.
type matcherVec struct {
	e      []matcherEntry
	nWords int
}

// vectorizeExamples numbers the features of docs in order of first
// appearance (so ids, and every float sum over them, are the same from run
// to run) and returns each doc's vector. A feature is weighed by how few
// conditions use it (ln((1+K)/(1+k)) + 1 for a feature in k of K
// conditions) rather than how few examples do: a condition with many
// phrasings of one idea should not make that idea's words look common.
func vectorizeExamples(docs []matcherFeatures, owner []int32, numConds int) (*matcherVocab, []matcherVec) {
	v := &matcherVocab{ids: map[uint64]int32{}}
	var condFreq []int
	var lastCond []int32
	type counted struct{ id, n int32 }
	total := 0
	for _, d := range docs {
		total += len(d.words) + len(d.chars)
	}
	all := make([]counted, 0, total)
	starts := make([]int, 0, 2*len(docs)+1)
	var hs []uint64
	for di, d := range docs {
		cond := owner[di]
		if cond < 0 {
			cond = -cond - 1
		}
		for _, block := range [][]uint64{d.words, d.chars} {
			starts = append(starts, len(all))
			hs = append(hs[:0], block...)
			slices.Sort(hs)
			for i := 0; i < len(hs); {
				j := i + 1
				for j < len(hs) && hs[j] == hs[i] {
					j++
				}
				id, ok := v.ids[hs[i]]
				if !ok {
					id = int32(len(condFreq))
					v.ids[hs[i]] = id
					condFreq = append(condFreq, 0)
					lastCond = append(lastCond, -1)
				}
				if lastCond[id] != cond {
					lastCond[id] = cond
					condFreq[id]++
				}
				all = append(all, counted{id, int32(j - i)})
				i = j
			}
		}
	}
	starts = append(starts, len(all))
	k := float64(numConds)
	v.icf = make([]float64, len(condFreq))
	for i, n := range condFreq {
		v.icf[i] = math.Log((1+k)/(1+float64(n))) + 1
	}
	v.unknownWeight = math.Log(1+k) + 1
	entries := make([]matcherEntry, len(all))
	vecs := make([]matcherVec, len(docs))
	for d := range docs {
		for b := range 2 {
			lo, hi := starts[2*d+b], starts[2*d+b+1]
			var norm float64
			for i := lo; i < hi; i++ {
				w := (1 + math.Log(float64(all[i].n))) * v.icf[all[i].id]
				norm += w * w
				entries[i] = matcherEntry{all[i].id, float32(w)}
			}
			scaleEntries(entries[lo:hi], norm)
		}
		end := starts[2*d+2]
		vecs[d] = matcherVec{e: entries[starts[2*d]:end:end], nWords: starts[2*d+1] - starts[2*d]}
	}
	return v, vecs
}

func scaleEntries(es []matcherEntry, normSquared float64) {
	if normSquared <= 0 {
		return
	}
	inv := 1 / math.Sqrt(normSquared)
	for k := range es {
		es[k].v = float32(float64(es[k].v) * inv)
	}
}

// vector weighs a message's features like the training examples':
// sublinear term frequency × inverse condition frequency, each block scaled
// to unit length so words and characters count alike whatever the
// message's length.
func (v *matcherVocab) vector(f matcherFeatures) matcherVec {
	var out matcherVec
	out.e = v.appendBlock(out.e, f.words)
	out.nWords = len(out.e)
	out.e = v.appendBlock(out.e, f.chars)
	return out
}

func (v *matcherVocab) appendBlock(out []matcherEntry, block []uint64) []matcherEntry {
	hs := slices.Clone(block)
	slices.Sort(hs)
	start := len(out)
	var norm float64
	for i := 0; i < len(hs); {
		j := i + 1
		for j < len(hs) && hs[j] == hs[i] {
			j++
		}
		tf := 1 + math.Log(float64(j-i))
		if id, ok := v.ids[hs[i]]; ok {
			w := tf * v.icf[id]
			out = append(out, matcherEntry{id, float32(w)})
			norm += w * w
		} else {
			norm += (tf * v.unknownWeight) * (tf * v.unknownWeight)
		}
		i = j
	}
	scaleEntries(out[start:], norm)
	return out
}

// addContext returns msg + weight·ctx: a reply's own evidence, plus some
// of what the agent last asked. The reply's part is not scaled down, so a
// "no" weighs as much against a question as it does alone.
func addContext(msg, ctx matcherVec, weight float64) matcherVec {
	var out matcherVec
	out.e = addBlock(out.e, msg.e[:msg.nWords], ctx.e[:ctx.nWords], weight)
	out.nWords = len(out.e)
	out.e = addBlock(out.e, msg.e[msg.nWords:], ctx.e[ctx.nWords:], weight)
	return out
}

func addBlock(out, a, b []matcherEntry, weight float64) []matcherEntry {
	at := map[int32]int{}
	for _, e := range a {
		at[e.id] = len(out)
		out = append(out, e)
	}
	for _, e := range b {
		v := float32(weight * float64(e.v))
		if k, ok := at[e.id]; ok {
			out[k].v += v
		} else {
			at[e.id] = len(out)
			out = append(out, matcherEntry{e.id, v})
		}
	}
	return out
}

func (x *matcherVec) normSquared() float64 {
	var s float64
	for _, e := range x.e {
		s += float64(e.v) * float64(e.v)
	}
	return s
}
