package memory

import (
	"focal/domain"
)

// packJob is a session the idle worker packs, whose SessionAfter it
// encodes with the store's lock let go (see Store.packOutside): encoding
// and compressing a session is most of what packing it costs, and a turn
// arriving while the worker held the lock for that waited behind it, for
// a whole batch of sessions.
type packJob struct {
	// e, taken from the queue as used at at, whose snapshot snap its
	// newest turn newest holds live only, as the lock was let go.
	e      *sessionEntry
	at     int64
	snap   *domain.Session
	newest *storedTurn
	// raw is snap's JSON: a copy of newest's liveJSON when it had one
	// (copied, under the lock, since the next commit's shrinkAfter
	// reuses that buffer), else encoded outside the lock. compressed is
	// raw compressed, what packOne would keep; err says snap has no JSON
	// form. The buffers are reused from run to run.
	raw, compressed []byte
	copied          bool
	err             error
}

// packOutside is pack's work for the idle worker, over at most idleBatch
// sessions due at now, in two holds of the lock with the encoding in
// between: the first takes the due sessions from the queue, packing those
// that need no encoding (see takeDue), the second packs the others with
// what was encoded, when nothing used or changed them meanwhile, else as
// pack would find them then (see install). Snapshots are frozen and
// never changed once stored, so reading one with the lock let go is safe.
// more says the first hold stopped at a bound. The caller holds s.mu.
func (s *Store) packOutside(w *IdleWorker, now int64) (more bool) {
	var enc *encoder
	defer func() {
		if enc != nil {
			encoders.Put(enc)
		}
	}()
	jobs, more := s.takeDue(w.jobs[:0], now, &enc)
	w.jobs = jobs
	if len(jobs) == 0 {
		return more
	}
	s.mu.Unlock()
	for i := range jobs {
		jobs[i].encode()
	}
	s.mu.Lock()
	// At most idleBatch records, copied into the slabs in this hold: a
	// bound idleBytes does not add to, since their sizes are known only
	// once encoded.
	for i := range jobs {
		s.install(&jobs[i], now, &enc)
		jobs[i].e, jobs[i].snap, jobs[i].newest, jobs[i].err = nil, nil, nil, nil
	}
	return more
}

// takeDue takes up to idleBatch due sessions from the queue, as pack
// does, and stops once it copied idleBytes into the slabs: those whose
// packing encodes their SessionAfter are appended to jobs, for
// packOutside to encode with the lock let go; the rest it packs (see
// packDue). more says it stopped at a bound. The caller holds s.mu.
func (s *Store) takeDue(jobs []packJob, now int64, enc **encoder) (_ []packJob, more bool) {
	bytes := idleBytes
	for range idleBatch {
		if bytes <= 0 {
			return jobs, true
		}
		e, at, ok := s.used.next(now - int64(packAfter))
		if !ok {
			return jobs, false
		}
		if !s.encodesToPack(e, at) {
			bytes -= s.packDue(e, at, now, enc)
			continue
		}
		if len(jobs) < cap(jobs) {
			jobs = jobs[:len(jobs)+1]
		} else {
			jobs = append(jobs, packJob{})
		}
		jobs[len(jobs)-1].take(e, at)
	}
	return jobs, true
}

// encodesToPack reports whether packDue would pack e, used at at, by
// encoding its SessionAfter (see packable); the caller holds s.mu.
func (s *Store) encodesToPack(e *sessionEntry, at int64) bool {
	if e.gone || s.leases[e.id()] != nil || e.touched > at || e.snap == nil || len(e.turns) == 0 {
		return false
	}
	newest := e.turns[len(e.turns)-1]
	return newest.liveAfter == e.snap && !newest.hasAfter()
}

// take makes j e's job, e used at at; the caller holds the store's lock
// and encodesToPack(e, at) holds.
func (j *packJob) take(e *sessionEntry, at int64) {
	j.e, j.at, j.snap, j.newest = e, at, e.snap, e.turns[len(e.turns)-1]
	j.copied = j.newest.liveJSON != nil
	if j.copied {
		j.raw = append(j.raw[:0], j.newest.liveJSON...)
	}
}

// encode makes j's compressed SessionAfter, outside the store's lock.
func (j *packJob) encode() {
	if !j.copied {
		if j.raw, j.err = j.snap.AppendJSON(j.raw[:0]); j.err != nil {
			return
		}
	}
	j.compressed = compressInto(j.compressed, j.raw)
}

// install packs j's session with what encode made, when it is as take
// found it: not dropped, leased or used since, its snapshot and newest
// turn the same, and that turn still holding it live only. Else it does
// what pack would do with the session now (see packDue). It returns the
// bytes copied into the slabs. The caller holds s.mu.
func (s *Store) install(j *packJob, now int64, enc **encoder) int {
	e := j.e
	if !s.encodesToPack(e, j.at) || e.snap != j.snap || e.turns[len(e.turns)-1] != j.newest {
		return s.packDue(e, j.at, now, enc)
	}
	if j.err != nil {
		return 0 // no JSON form: it stays live (see packable)
	}
	e.letGoSnap()
	return s.chillCompressed(e, j.compressed)
}
