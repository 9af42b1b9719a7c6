package domain

import (
	"math"
	"slices"
	"sync"
)

// matcherVocab maps the feature hashes seen in training to dense ids and
// weighs each feature by its inverse condition frequency.
type matcherVocab struct {
	ids featureTable
	icf []float64
	// icfByConds[n] is the icf of a feature n conditions have: what a
	// message's vector reads, by the count its lookup finds.
	icfByConds []float64
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

// vectorizeExamples numbers the features of docs (each block sorted, see
// sortedFeatures) in order of first appearance (so ids, and every float sum over them, are the same from run
// to run) and returns each doc's vector. A feature is weighed by how few
// conditions use it (ln((1+K)/(1+k)) + 1 for a feature in k of K
// conditions) rather than how few examples do: a condition with many
// phrasings of one idea should not make that idea's words look common.
func vectorizeExamples(docs []matcherFeatures, owner []int32, numConds, workers int) (*matcherVocab, []matcherVec) {
	v := &matcherVocab{}
	ids := map[uint64]int32{}
	var condFreq []int
	var lastCond []int32
	total := 0
	for _, d := range docs {
		total += len(d.words) + len(d.chars)
	}
	all := make([]matcherCount, 0, total)
	starts := make([]int, 0, 2*len(docs)+1)
	for di, d := range docs {
		cond := owner[di]
		if cond < 0 {
			cond = -cond - 1
		}
		for _, hs := range [][]uint64{d.words, d.chars} {
			starts = append(starts, len(all))
			for i := 0; i < len(hs); {
				j := i + 1
				for j < len(hs) && hs[j] == hs[i] {
					j++
				}
				id, ok := ids[hs[i]]
				if !ok {
					id = int32(len(condFreq))
					ids[hs[i]] = id
					condFreq = append(condFreq, 0)
					lastCond = append(lastCond, -1)
				}
				if lastCond[id] != cond {
					lastCond[id] = cond
					condFreq[id]++
				}
				all = append(all, matcherCount{id, int32(j - i)})
				i = j
			}
		}
	}
	starts = append(starts, len(all))
	v.ids = newFeatureTable(ids, condFreq)
	k := float64(numConds)
	// Conditions are counted as owner numbers them, which may run past
	// numConds.
	most := numConds
	for _, n := range condFreq {
		most = max(most, n)
	}
	v.icfByConds = make([]float64, most+1)
	for n := range v.icfByConds {
		v.icfByConds[n] = log((1+k)/(1+float64(n))) + 1
	}
	v.icf = make([]float64, len(condFreq))
	for i, n := range condFreq {
		v.icf[i] = v.icfByConds[n]
	}
	v.unknownWeight = log(1+k) + 1
	return v, v.weigh(all, starts, len(docs), workers)
}

// matcherCount is a feature of a doc and how often the doc has it.
type matcherCount struct{ id, n int32 }

// weigh turns counts into vectors, docs in parallel: doc d's word block
// is all[starts[2d]:starts[2d+1]], its character block runs to
// starts[2d+2].
func (v *matcherVocab) weigh(all []matcherCount, starts []int, numDocs, workers int) []matcherVec {
	entries := make([]matcherEntry, len(all))
	vecs := make([]matcherVec, numDocs)
	parallelRange(numDocs, workers, func(lo, hi int) {
		for d := lo; d < hi; d++ {
			vecs[d] = v.weighDoc(all, starts, entries, d)
		}
	})
	return vecs
}

// weighDoc writes doc d's entries: sublinear term frequency × inverse
// condition frequency, each block scaled to unit length.
func (v *matcherVocab) weighDoc(all []matcherCount, starts []int, entries []matcherEntry, d int) matcherVec {
	for b := range 2 {
		lo, hi := starts[2*d+b], starts[2*d+b+1]
		var norm float64
		for i := lo; i < hi; i++ {
			w := (1 + log(float64(all[i].n))) * v.icf[all[i].id]
			norm += float64(w * w)
			entries[i] = matcherEntry{all[i].id, float32(w)}
		}
		scaleEntries(entries[lo:hi], norm)
	}
	end := starts[2*d+2]
	return matcherVec{e: entries[starts[2*d]:end:end], nWords: starts[2*d+1] - starts[2*d]}
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
// message's length. It sorts f's blocks in place: its caller reads f for
// nothing else. The vector is built in buf's arrays unless buf is nil.
func (v *matcherVocab) vector(f matcherFeatures, buf *contextBuffer) matcherVec {
	// At most one entry per feature: sized once rather than grown.
	n := len(f.words) + len(f.chars)
	if buf == nil {
		buf = &contextBuffer{}
	}
	if cap(buf.ctx) < n {
		buf.ctx = make([]matcherEntry, 0, n)
	}
	if cap(buf.sortTmp) < max(len(f.words), len(f.chars)) {
		buf.sortTmp = make([]uint64, max(len(f.words), len(f.chars)))
	}
	out := matcherVec{e: buf.ctx[:0]}
	out.e = v.appendBlock(out.e, sortHashes(f.words, buf.sortTmp))
	out.nWords = len(out.e)
	out.e = v.appendBlock(out.e, sortHashes(f.chars, buf.sortTmp))
	return out
}

// sortHashes sorts hs ascending, as slices.Sort would, and returns it; tmp
// (as long as hs at least) is its scratch. As sortOccurrences does for
// positions, a stable radix sort on the top 16 bits (two passes of a byte)
// orders all but the few hashes sharing those bits, which an insertion
// pass then puts in place: a fraction of a comparison sort's cost.
func sortHashes(hs, tmp []uint64) []uint64 {
	tmp = tmp[:len(hs)]
	hashRadixPass(hs, tmp, 48)
	hashRadixPass(tmp, hs, 56)
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j] < hs[j-1]; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
	return hs
}

// hashRadixPass stably moves from into to, ordered by each hash's byte at
// shift.
func hashRadixPass(from, to []uint64, shift uint) {
	var start [257]int32
	for _, h := range from {
		start[int(byte(h>>shift))+1]++
	}
	for d := 1; d < len(start); d++ {
		start[d] += start[d-1]
	}
	for _, h := range from {
		d := byte(h >> shift)
		to[start[d]] = h
		start[d]++
	}
}

// appendBlock appends the weighed features of hs, sorted, to out.
func (v *matcherVocab) appendBlock(out []matcherEntry, hs []uint64) []matcherEntry {
	start := len(out)
	var norm float64
	for i := 0; i < len(hs); {
		j := i + 1
		for j < len(hs) && hs[j] == hs[i] {
			j++
		}
		tf := termFrequency(j - i)
		if id, conds, ok := v.ids.lookup(hs[i]); ok {
			w := tf * v.icfByConds[conds]
			out = append(out, matcherEntry{id, float32(w)})
			norm += float64(w * w)
		} else {
			norm += float64((tf * v.unknownWeight) * (tf * v.unknownWeight))
		}
		i = j
	}
	scaleEntries(out[start:], norm)
	return out
}

// termFrequency is the sublinear weight of a feature n times in a text,
// 1 + ln n. A message's features are nearly all there once or twice;
// those are looked up rather than taken a logarithm of each time.
func termFrequency(n int) float64 {
	if n < len(smallTermFrequencies) {
		return smallTermFrequencies[n]
	}
	return 1 + log(float64(n))
}

var smallTermFrequencies = func() (t [16]float64) {
	for n := range t {
		t[n] = 1 + log(float64(n))
	}
	return t
}()

// messageVec is a message's vector together with, for each entry, the
// message's words its feature came from, which is what lets a score name
// the words behind it.
type messageVec struct {
	matcherVec
	// spans[k] is entry k's words: origins[spans[k].lo:spans[k].hi],
	// none for a feature only a context has. origins is the message
	// text's (see textRun), which every matcher's vector shares.
	spans   []originSpan
	origins []int32
}

// originSpan is where a feature's words are in a message's origins.
type originSpan struct{ lo, hi int32 }

// messageText is a message read for matching: its words, their features,
// and each block's features in the order messageVector weighs them. None
// of it depends on the matcher, so a turn reads its message once for the
// policy's matcher and its step's.
type messageText struct {
	text  string
	scope int // the negation scope the words were read with
	words []matcherWord
	// runs[b] is block b's (words, then characters) distinct features in
	// the order messageVector weighs them, by hash; origins holds the
	// words of each, ascending.
	runs    [2][]textRun
	origins []int32
}

// textRun is one distinct feature of a message: its hash, its term
// frequency (termFrequency of how many times the message has it), and
// where the words it came from (each once) are in origins, which is
// what a vector's entry for it keeps. Finding them takes sorting the
// message's features, which does not depend on the matcher: a turn does
// it once for the policy's matcher and its step's, which only look the
// hashes up. The term frequency is worked out here once for both, and
// leaves weighRuns' loop without termFrequency's call of math.Log, around
// which the compiler kept the loop's values in memory.
type textRun struct {
	h    uint64
	tf   float64
	span originSpan
}

// readMessageText reads text with negations covering scope words.
func readMessageText(text string, scope int) *messageText {
	return readMessageTextIn(text, scope, nil)
}

// messageBuffers are the arrays a message read for scoring lives in,
// and its vector and scores with the policy's matcher: kept between turns in
// messageBufferPool by a MessageScores released.
type messageBuffers struct {
	text     messageText
	words    []matcherWord
	hashes   []uint64
	origins  []int32
	occ      []occurrence // sortOccurrences'
	runWords []int32      // the words of the message's runs
	runs     []textRun
	kept     keptArrays
	// step holds the results of the message's scoring at a step, which
	// Step reads into its evidence before it returns.
	step   keptArrays
	scores MessageScores // the scores read into these arrays
	// ahead are scores explained, from the aheadFrom-th, together with
	// one asked for (see MessageScores.explainAt); aheadN of them.
	ahead             [matcherExplained]ConditionScore
	aheadFrom, aheadN int
}

// messageBufferPool holds messageBuffers between turns.
var messageBufferPool = sync.Pool{New: func() any { return new(messageBuffers) }}

// maxPooledFeatures is the most features of a message whose buffers go
// back to messageBufferPool: a long message's are left to the collector.
const maxPooledFeatures = 4096

// put hands b back to messageBufferPool, holding nothing of its message.
func (b *messageBuffers) put() {
	if cap(b.hashes) > maxPooledFeatures {
		return
	}
	clear(b.words)
	b.kept.clear()
	b.step.clear()
	b.text, b.scores = messageText{}, MessageScores{}
	b.ahead, b.aheadN = [matcherExplained]ConditionScore{}, 0
	messageBufferPool.Put(b)
}

// readMessageTextIn is readMessageText in b's arrays (grown as needed),
// or in arrays of its own when b is nil.
func readMessageTextIn(text string, scope int, b *messageBuffers) *messageText {
	if b == nil {
		b = &messageBuffers{}
	}
	t := &b.text
	*t = messageText{text: text, scope: scope, words: appendMatcherWords(b.words[:0], text, scope)}
	b.words = t.words
	f := featuresIn(&b.hashes, &b.origins, t.words)
	nw, n := len(f.words), len(f.words)+len(f.chars)
	if cap(b.occ) < 2*n {
		b.occ = make([]occurrence, 2*n)  // sorted, then sortOccurrences' scratch
		b.runWords = make([]int32, 0, n) // at most one for each feature
	}
	if cap(b.runs) < n {
		b.runs = make([]textRun, 0, n)
	}
	all, tmp := b.occ[:n], b.occ[n:2*n]
	words := sortOccurrences(f.words, f.origin[:nw], all[:nw], tmp)
	chars := sortOccurrences(f.chars, f.origin[nw:], all[nw:], tmp)
	runs, origins := appendRuns(b.runs[:0], b.runWords[:0], words)
	t.runs[0] = runs
	runs, origins = appendRuns(runs, origins, chars)
	t.runs[1] = runs[len(t.runs[0]):]
	t.origins = origins
	return t
}

// appendRuns appends one block's distinct features, in order (occ is
// sorted by hash, then origin), to runs and their words to origins.
func appendRuns(runs []textRun, origins []int32, occ []occurrence) ([]textRun, []int32) {
	// Room for a run and a word an occurrence, made first (the callers'
	// arrays have it): appending in the loop kept its values on the
	// stack around each append's call to grow, which never came.
	nr, no := len(runs), len(origins)
	runs, origins = slices.Grow(runs, len(occ))[:nr+len(occ)], slices.Grow(origins, len(occ))[:no+len(occ)]
	k, end, long := writeRuns(runs[nr:], origins, no, occ)
	if long {
		longRuns(runs[nr:nr+k], occ)
	}
	return runs[:nr+k], origins[:end]
}

// writeRuns is appendRuns' loop: it writes occ's runs to out and their
// words to origins from no on, and returns how many runs and where the
// words end, and whether a run was too long for termFrequency's table
// (its term frequency left at 0 for longRuns), which a message's hardly
// is. Each occurrence either starts a run, as nine in ten of a
// message's do (termFrequency(1) is 1 exactly), or adds to the last one,
// whose count is looked back for. Written in appendRuns, with a loop
// over each run's occurrences and termFrequency's call of math.Log, the
// loop kept its values on the stack.
func writeRuns(out []textRun, origins []int32, no int, occ []occurrence) (int, int, bool) {
	if len(occ) == 0 {
		return 0, no, false
	}
	tfs := &smallTermFrequencies
	k := -1           // the run being made
	last := ^occ[0].h // its hash; at first, one that is not the first's
	long := false
	for i := range occ {
		h, o := occ[i].h, occ[i].origin
		if h != last {
			last = h
			k++
			origins[no] = o
			no++
			out[k] = textRun{h: h, tf: 1, span: originSpan{int32(no - 1), int32(no)}}
			continue
		}
		if o != occ[i-1].origin {
			origins[no] = o
			no++
			out[k].span.hi = int32(no)
		}
		// occ[i] is the run's c-th; looked back for no further than the
		// table reaches, so a message repeating one feature thousands of
		// times costs a step per occurrence, not its run's length.
		c := 2
		for c <= i && c < len(tfs) && occ[i-c].h == h {
			c++
		}
		if c < len(tfs) {
			out[k].tf = tfs[c]
		} else {
			out[k].tf, long = 0, true
		}
	}
	return k + 1, no, long
}

// longRuns sets the term frequency of each of runs, occ's, that
// appendRuns left at 0.
func longRuns(runs []textRun, occ []occurrence) {
	i := 0
	for k := range runs {
		j := i
		for j < len(occ) && occ[j].h == runs[k].h {
			j++
		}
		if runs[k].tf == 0 {
			runs[k].tf = termFrequency(j - i)
		}
		i = j
	}
}

// vecBuffer holds a message vector's arrays between uses.
type vecBuffer struct {
	e     []matcherEntry
	spans []originSpan
}

// messageVector is vector, keeping each feature's words; built in buf's
// arrays (grown as needed) unless buf is nil, when it has its own.
func (v *matcherVocab) messageVector(t *messageText, buf *vecBuffer) messageVec {
	// Sized up front (see extractFeatures): at most one entry a run.
	n := len(t.runs[0]) + len(t.runs[1])
	if buf == nil {
		buf = &vecBuffer{}
	}
	if cap(buf.e) < n {
		buf.e = make([]matcherEntry, 0, n)
	}
	if cap(buf.spans) < n {
		buf.spans = make([]originSpan, 0, n)
	}
	q := messageVec{matcherVec: matcherVec{e: buf.e[:n]}, spans: buf.spans[:n], origins: t.origins}
	k, norm := weighRuns(v, t.runs[0], q.e, q.spans)
	scaleEntries(q.e[:k], norm)
	q.nWords = k
	n, norm = weighRuns(v, t.runs[1], q.e[k:], q.spans[k:])
	scaleEntries(q.e[k:k+n], norm)
	k += n
	q.e, q.spans = q.e[:k], q.spans[:k]
	return q
}

// weighRuns sets es's entries and spans' to one block's features, in the
// order of runs, and returns how many it set and the square of the
// block's norm, by which its caller scales them. es has room for one
// entry a run, and spans as many.
//
// Its loop is a turn's every distinct feature, twice (the policy's
// matcher's vector and its step's), and is written for the compiler to
// keep what it can in registers: what it reads of v is in locals (read
// through v, it was loaded again for each feature, as the writes to the
// arrays might have changed it), the table's probe is written out here
// rather than called (featureTable.lookup, as an inlined method of a copy
// of the table, cost 2 % more), spans shares es's length, and each run
// brings its words' span rather than the loop carrying where they start.
// It takes its arrays from k on and leaves the scaling to its caller:
// slicing them here and scaling after the loop kept where the block
// starts and the arrays' capacities live through it, which the compiler
// spilled and loaded again for every feature (BenchmarkTurnMatching-
// Unexplained cost 1.1 % more).
func weighRuns(v *matcherVocab, runs []textRun, es []matcherEntry, spans []originSpan) (n int, norm float64) {
	spans = spans[:len(es)] // one bounds check for both
	slots, shift := v.ids.slots, v.ids.shift&63
	icf, unknown := v.icfByConds, v.unknownWeight
	for i := range runs {
		r := &runs[i]
		h := r.h
		p := (h * featureMix) >> shift // featureTable.lookup's probe
		s := &slots[p]
		for s.id != 0 && s.h != h {
			p = (p + 1) & uint64(len(slots)-1)
			s = &slots[p]
		}
		if s.id == 0 {
			norm += float64((r.tf * unknown) * (r.tf * unknown))
			continue
		}
		w := r.tf * icf[s.conds]
		es[n] = matcherEntry{s.id - 1, float32(w)}
		spans[n] = r.span
		n++
		norm += float64(w * w)
	}
	return n, norm
}

// occurrence is one of a message's features: its hash, and the word it
// came from.
type occurrence struct {
	h      uint64
	origin int32
}

// sortOccurrences fills occ (len(block) of them) with block's features
// and their origins, ordered by hash, then origin, and returns it; tmp
// (as long at least) is its scratch. A stable radix sort on each hash's
// top bits puts them all but in place, and a stable insertion comparing
// whole hashes within each bucket of the last pass finishes: it costs a fraction of a comparison
// sort of (hash, origin) pairs, which was most of reading a message. A
// block's origins ascend already, as extractFeatures makes them, and
// every pass keeps that order, so origins need no comparing. Each hash
// moves with its origin, so neither the passes nor the runs read after
// look a hash up by its position.
//
// How many top bits is a trade between summing where each bucket starts
// and moving the hashes left out of place. A message's hundred and forty
// character grams take two passes of occurrenceDigit bits: one pass of a
// byte was too few, as a gram's last character reaches FNV's top bits
// only through carries, so the grams of a word that share their first
// characters crowd into a few buckets (580 moves a message, 66 after 14
// bits, 49 after 16, where the two sums of 256 buckets cost more than
// the moves they spared). Its twenty-odd word features take one pass of
// fewDigit bits: by insertion alone, they moved a hundred times.
func sortOccurrences(block []uint64, origin []int32, occ, tmp []occurrence) []occurrence {
	n := len(block)
	occ, tmp, origin = occ[:n], tmp[:n], origin[:n]
	if n <= fewOccurrences {
		var count [1 << fewDigit]int32
		for _, h := range block {
			count[h>>(64-fewDigit)]++
		}
		startsOfBuckets(count[:])
		clear(occ) // see insertInBucket
		for k, h := range block {
			d := h >> (64 - fewDigit)
			insertInBucket(occ, occurrence{h, origin[k]}, count[d])
			count[d]++
		}
		return occ
	}
	const low = 64 - 2*occurrenceDigit // the lower pass's digit starts at this bit
	var lower, upper [1 << occurrenceDigit]int32
	for _, h := range block {
		lower[(h>>low)%(1<<occurrenceDigit)]++
		upper[h>>(64-occurrenceDigit)]++
	}
	startsOfBuckets(lower[:])
	startsOfBuckets(upper[:])
	for k, h := range block {
		d := (h >> low) % (1 << occurrenceDigit)
		tmp[lower[d]] = occurrence{h, origin[k]}
		lower[d]++
	}
	clear(occ) // see insertInBucket
	for _, o := range tmp {
		d := o.h >> (64 - occurrenceDigit)
		insertInBucket(occ, o, upper[d])
		upper[d]++
	}
	return occ
}

// insertInBucket puts o, the next occurrence of its bucket, which occ
// holds up to end, in its place among the bucket's, after those of the
// same hash: the insertion pass that finishes sortOccurrences' sort,
// made as each occurrence arrives rather than in a pass of its own over
// the block, which cost a tenth of reading a message. A bucket holds only
// hashes sharing its top bits, so sorting each one sorts the block.
//
// It looks back with no test of where the bucket starts: sortOccurrences
// clears occ first, so whatever is before the bucket is a smaller
// bucket's occurrence or a zero hash, neither greater than o's, and the
// look back stops there as it would at the bucket's start. Testing for
// the start made the loop's exit a coin toss for a bucket of one or two
// (most of a message's character grams in a bucket of 128), which the
// CPU mispredicted: without it, the look back leaves at once but for the
// few occurrences out of place, and sorting a Banking77 test message's
// two blocks cost 40 % less (1.44 µs against 2.51 µs, p = 0.015, on a
// host busy with other work; 0.85 against 1.39 quieter).
func insertInBucket(occ []occurrence, o occurrence, end int32) {
	j := end
	for ; j > 0 && o.h < occ[j-1].h; j-- {
		occ[j] = occ[j-1]
	}
	occ[j] = o
}

// Radix digits of sortOccurrences, in bits: two passes of occurrenceDigit
// for a block of more than fewOccurrences hashes, one of fewDigit for a
// smaller one.
const (
	occurrenceDigit = 7
	fewDigit        = 5
	fewOccurrences  = 64
)

// startsOfBuckets turns counts by bucket into where each bucket starts.
// Four at a time, as it runs twice a block; len(count) is a multiple of
// four.
func startsOfBuckets(count []int32) {
	var sum int32
	for d := 0; d < len(count)-3; d += 4 { // bounded so, with no index to check
		c0, c1, c2, c3 := count[d], count[d+1], count[d+2], count[d+3]
		count[d], count[d+1], count[d+2], count[d+3] = sum, sum+c0, sum+c0+c1, sum+c0+c1+c2
		sum += c0 + c1 + c2 + c3
	}
}

// addContext returns msg + weight·ctx: a reply's own evidence, plus some
// of what the agent last asked. The reply's part is not scaled down, so a
// "no" weighs as much against a question as it does alone. The context's
// features come from no word of the reply.
//
// The sum is built in buf's arrays unless buf is nil.
func addContext(msg messageVec, ctx matcherVec, weight float64, buf *contextBuffer) messageVec {
	n := len(msg.e) + len(ctx.e)
	if buf == nil {
		buf = &contextBuffer{}
	}
	if cap(buf.sum.e) < n {
		buf.sum.e = make([]matcherEntry, 0, n)
	}
	if cap(buf.sum.spans) < n {
		buf.sum.spans = make([]originSpan, 0, n)
	}
	out := messageVec{matcherVec: matcherVec{e: buf.sum.e[:n:n]}, spans: buf.sum.spans[:n:n], origins: msg.origins}
	k := addContextBlock(&out, msg.e[:msg.nWords], msg.spans, ctx.e[:ctx.nWords], weight, &buf.held, 0)
	out.nWords = k
	k = addContextBlock(&out, msg.e[msg.nWords:], msg.spans[msg.nWords:], ctx.e[ctx.nWords:], weight, &buf.held, k)
	out.e, out.spans = out.e[:k], out.spans[:k]
	return out
}

// addContextBlock writes one block of addContext's sum into out from k
// on, and returns where it ends: the reply's features a (their words in
// spans) in order, each with the context's weight for the same feature
// added, then the context's features b that a lacks, in b's order. out
// has room for both. A context has hundreds of features and a short
// reply a few dozen: which of the reply's a feature is, is looked up in
// held, a table of the reply's ids in an array kept between calls, where
// sorting them and searching the sorted ids for each of the context's
// cost more than the rest of a short reply's scoring at a step.
func addContextBlock(out *messageVec, a []matcherEntry, spans []originSpan, b []matcherEntry, weight float64, held *heldTable, k int) int {
	held.reset(len(a))
	for i, e := range a {
		held.put(e.id, int32(k))
		out.e[k], out.spans[k] = e, spans[i]
		k++
	}
	end := held.addOthers(out.e, k, b, weight)
	clear(out.spans[k:end]) // the context's own come from no word
	return end
}

// addOthers adds weight·b to es, whose features from k on are free: each
// of b's that the table holds is added to its entry, the others are
// written from k on, in b's order; it returns where they end.
func (t *heldTable) addOthers(es []matcherEntry, k int, b []matcherEntry, weight float64) int {
	slots, shift := t.slots, t.shift
	mask := uint32(len(slots) - 1)
next:
	for _, e := range b {
		v := float32(weight * float64(e.v))
		for i := heldHome(e.id, shift); ; i++ {
			s := slots[i&mask]
			if s.id == e.id+1 {
				es[s.at].v += v
				continue next
			}
			if s.id == 0 {
				break
			}
		}
		es[k] = matcherEntry{e.id, v}
		k++
	}
	return k
}

// heldTable is a set of distinct feature ids, each with where it is in a
// vector being built: an open-addressing table probed linearly, kept at
// most a quarter full so that an id it lacks, what most of a context's
// are, is nearly always told by one slot.
type heldTable struct {
	slots []heldSlot
	shift uint8 // 32 − log2(len(slots))
}

// heldSlot is an id plus one (0: empty) and where the id is.
type heldSlot struct{ id, at int32 }

// reset empties the table, with room for n ids.
func (t *heldTable) reset(n int) {
	size, shift := 16, uint8(32-4)
	for size < 4*n {
		size, shift = 2*size, shift-1
	}
	if cap(t.slots) < size {
		t.slots = make([]heldSlot, size)
	}
	t.slots, t.shift = t.slots[:size], shift
	clear(t.slots)
}

// heldHome is where id's probe starts in a heldTable of 32 − shift bits
// (Fibonacci hashing: ids a vector holds are often neighbours, which
// probing from their low bits crowded together and probed longer).
func heldHome(id int32, shift uint8) uint32 { return (uint32(id) * 0x9e3779b9) >> (shift & 31) }

// put adds id, which the table lacks, at at.
func (t *heldTable) put(id, at int32) {
	mask := uint32(len(t.slots) - 1)
	i := heldHome(id, t.shift)
	for t.slots[i&mask].id != 0 {
		i++
	}
	t.slots[i&mask] = heldSlot{id + 1, at}
}

// contextBuffer holds, between uses, the arrays a short message's
// context is read into and added to the message's vector with.
type contextBuffer struct {
	words   []matcherWord  // the context's words
	hashes  []uint64       // the context's features
	sortTmp []uint64       // sortHashes' scratch
	ctx     []matcherEntry // the context's vector
	sum     vecBuffer      // the message's vector with the context's
	held    heldTable      // addContext's
}

func (x *matcherVec) normSquared() float64 {
	var s float64
	for _, e := range x.e {
		s += float64(float64(e.v) * float64(e.v))
	}
	return s
}

// sortedFeatures sorts f's blocks, which is how vectorizeExamples takes
// them, and drops what only a message's explanation needs.
func sortedFeatures(f matcherFeatures) matcherFeatures {
	slices.Sort(f.words)
	slices.Sort(f.chars)
	f.origin = nil
	return f
}
