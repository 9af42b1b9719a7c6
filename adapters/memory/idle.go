package memory

import (
	"time"

	"unique"

	"focal/domain"
)

// sessionEntry is a stored session and the turns kept of it, while it is
// in use or was lately (else coldStore holds it).
//
// Most sessions a store keeps are idle: every garbage collection would
// mark their snapshots (a session, its maps, slices and strings) again and
// again. So a session idle for packAfter is packed: its snapshot, which is
// then its newest turn's SessionAfter, is let go, and its next use decodes
// it from that turn, which then keeps it encoded whole. What finds, lists,
// expires and drops a session is kept beside it, so a packed session is a
// few words to scan.
type sessionEntry struct {
	// Fields holding pointers first, so that the collector scans only
	// them.

	// snap is the session as committed; a frozen Clone, never changed in
	// place. nil while the session is packed: it is then the newest kept
	// turn's SessionAfter.
	snap *domain.Session
	// turns are the kept turns, oldest first, numbered consecutively up
	// to the snapshot's TurnCount; older ones were dropped by retention.
	// first holds them while there is one (a new user's session).
	turns []*storedTurn
	first [1]*storedTurn
	// names are the session's tenant, agent and channel, shared by every
	// session naming them; ids its id, then its user channel id (idLen
	// long).
	names unique.Handle[channelNames]
	ids   string
	// status is the snapshot's.
	status domain.SessionStatus
	// firstTurn is the first turn the entry kept, in the entry itself: a
	// new user's session is then one object less, while it is in use.
	// Zero once retention dropped it. Its pointers end the ones to scan.
	firstTurn storedTurn

	idLen uint32
	// queued is set while the entry is in Store.used.
	queued bool
	// active is set while the entry is its channel key's active session
	// (Store.active maps its key to it); gone once it left
	// Store.sessions (dropped, or cold), never to come back: a session
	// thawed is an entry of its own. Packing reads them rather than look
	// the session up in two maps of every session in use.
	active, gone bool
	// created is the snapshot's CreatedAt, in Unix ns.
	created int64
	// touched (Unix ns) is when a turn last read or wrote the session:
	// eviction waits for it too, so a session a request has just found is
	// not dropped before the request locks it. Packing moves it up to the
	// snapshot's last activity and update, so eviction reads the same.
	touched int64
}

// channelNames are the parts of a channel identity that many sessions
// share.
type channelNames struct{ tenant, agent, channel string }

// activeKey is a channel identity as Store.active keys it: two words to
// scan, not four strings.
type activeKey struct {
	names unique.Handle[channelNames]
	user  string
}

// recentNames holds the channel names' handles made last, for activeKeyOf.
type recentNames struct {
	last [8]struct {
		names channelNames
		h     unique.Handle[channelNames]
	}
	n    int // how many of last are set
	next int // the one to replace next
}

// activeKeyOf is k's activeKey, with the handles of the last few channel
// names looked up first: a deployment's turns come through a few agents and
// channels, and comparing their names costs a fraction of what
// unique.Make's hashing of them does. The caller holds s.mu.
func (s *Store) activeKeyOf(k domain.ChannelKey) activeKey {
	n := channelNames{k.TenantID, k.AgentID, k.Channel}
	r := &s.recentNames
	for i := range r.n {
		if r.last[i].names == n {
			return activeKey{r.last[i].h, k.UserChannelID}
		}
	}
	h := unique.Make(n)
	r.last[r.next].names, r.last[r.next].h = n, h
	r.n = max(r.n, r.next+1)
	r.next = (r.next + 1) % len(r.last)
	return activeKey{h, k.UserChannelID}
}

func (e *sessionEntry) id() string     { return e.ids[:e.idLen] }
func (e *sessionEntry) tenant() string { return e.names.Value().tenant }
func (e *sessionEntry) agent() string  { return e.names.Value().agent }
func (e *sessionEntry) key() activeKey { return activeKey{e.names, e.ids[e.idLen:]} }
func (e *sessionEntry) channelKey() domain.ChannelKey {
	n := e.names.Value()
	return domain.ChannelKey{TenantID: n.tenant, AgentID: n.agent, Channel: n.channel, UserChannelID: e.ids[e.idLen:]}
}

// shareStrings points snap's id and names at the entry's: every request
// decodes its own copy, thousands of sessions name the same few tenants,
// agents and channels, and every later snapshot of the session shares the
// entry's. The values are unchanged.
func (e *sessionEntry) shareStrings(snap *domain.Session) {
	k := e.channelKey()
	snap.ID, snap.TenantID, snap.AgentID, snap.Channel, snap.UserChannelID = e.id(), k.TenantID, k.AgentID, k.Channel, k.UserChannelID
}

// packAfter is how long a session stays unused before pack lets its
// snapshot go: longer than a returning user's pause in the soak, shorter
// than anything a person types.
const packAfter = 5 * time.Second

// packPerCommit bounds the sessions a commit considers for packing, so
// that the work stays a few map look-ups per commit, in a store whose
// idle work runs on its commits (see idleAfterCommit).
const packPerCommit = 8

// newEntry keeps snap, a new session of the store's own (not the
// caller's: a candidate handed in is cloned first), as the session of
// channel key k: one string holds its id and user channel id, and tenant,
// agent and channel are shared, by k's handle (what unique.Make would
// hash the names again for). Its lease, taken in the same hold of the
// lock, sets touched (see Store.lock) on the one reading of the clock the
// lease takes. The caller holds s.mu.
func (s *Store) newEntry(snap *domain.Session, k activeKey) *sessionEntry {
	e := &sessionEntry{names: k.names, ids: snap.ID + snap.UserChannelID, idLen: uint32(len(snap.ID)),
		created: snap.CreatedAt.UnixNano()}
	e.shareStrings(snap)
	snap.Freeze()
	e.setSnap(snap)
	e.turns = e.first[:0]
	return e
}

// setSnap makes snap, frozen, the entry's session.
func (e *sessionEntry) setSnap(snap *domain.Session) {
	e.snap, e.status = snap, snap.Status
}

func (s *Store) now() int64 { return s.clock.Now().UnixNano() }

// current returns the session as stored, decoding it when it is packed;
// the caller holds s.mu. A decoded session is the entry's snapshot again
// (a turn is about to use it), until pack lets it go again.
func (s *Store) current(e *sessionEntry) (*domain.Session, error) {
	if e.snap != nil {
		return e.snap, nil
	}
	snap, err := s.view(e)
	if err != nil {
		return nil, err
	}
	e.setSnap(snap)
	e.turns[len(e.turns)-1].liveAfter = snap
	s.used.add(e, e.touched)
	return snap, nil
}

// view returns the session as stored, frozen, decoding it when it is
// packed without keeping what it decoded: reads leave a session packed.
// The caller holds s.mu.
func (s *Store) view(e *sessionEntry) (*domain.Session, error) {
	if e.snap != nil {
		return e.snap, nil
	}
	snap := new(domain.Session)
	if err := decodeKept([]byte(e.turns[len(e.turns)-1].after), snap); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "a stored session cannot be read")
	}
	if snap.ID != e.id() || snap.Key() != e.channelKey() {
		return nil, domain.Errorf(domain.CodeInternal, "stored session %s reads back as another one", e.id())
	}
	e.shareStrings(snap) // not the decoded copies
	snap.Freeze()
	return snap, nil
}

// packable reports whether e's snapshot can go: it is its newest turn's
// SessionAfter, which that turn holds encoded whole, or whose JSON after
// is then, made with enc and valid until enc's next use, for the caller
// to keep (see chillAfter). (pack also waits until no turn holds or
// awaits the lease.) The caller holds s.mu.
func (s *Store) packable(e *sessionEntry, enc *encoder) (after []byte, ok bool) {
	if e.snap == nil || len(e.turns) == 0 {
		return nil, false
	}
	newest := e.turns[len(e.turns)-1]
	if newest.liveAfter != e.snap {
		return nil, false
	}
	if newest.hasAfter() {
		return nil, true
	}
	// Encoded once per session that goes idle, a commit no longer
	// encoding its session (see storedTurn.liveAfter): here under the
	// lock, for packing on commits and sweeps; the idle worker encodes
	// with the lock let go (see packOutside).
	after, err := enc.sessionJSON(e.snap, newest.liveJSON)
	return after, err == nil // no JSON form: it stays live
}

// pack lets go the snapshot of each session unused for packAfter before
// now, taking at most limit sessions from the queue and stopping once it
// copied bytes into the slabs; more reports that it stopped at a bound.
// The caller holds s.mu.
func (s *Store) pack(now int64, limit, bytes int) (more bool) {
	var enc *encoder
	defer func() {
		if enc != nil {
			encoders.Put(enc)
		}
	}()
	for range limit {
		if bytes <= 0 {
			return true
		}
		e, at, ok := s.used.next(now - int64(packAfter))
		if !ok {
			return false
		}
		bytes -= s.packDue(e, at, now, &enc)
	}
	return true
}

// packDue packs e, taken from the queue as used at at, when nothing uses
// it since (else it queues it again), and returns the bytes it copied
// into the slabs; *enc is taken from encoders when packing needs one.
// The caller holds s.mu.
func (s *Store) packDue(e *sessionEntry, at, now int64, enc **encoder) int {
	switch {
	case e.gone:
		return 0 // dropped since it was queued
	case s.leases[e.id()] != nil:
		s.used.add(e, now) // in use: look again later
		return 0
	case e.touched > at:
		s.used.add(e, e.touched)
		return 0
	case e.snap == nil:
		return s.chill(e) // thawed by a read (see thaw)
	default:
		return s.packOne(e, getEncoder(enc))
	}
}

// packOne lets go of e's snapshot when it can (see packable) and chills
// e, returning the bytes it copied into the slabs. The caller holds s.mu.
func (s *Store) packOne(e *sessionEntry, enc *encoder) int {
	after, ok := s.packable(e, enc)
	if !ok {
		return 0
	}
	e.letGoSnap()
	return s.chillAfter(e, enc, after)
}

// letGoSnap packs e, whose snapshot its newest turn holds encoded or is
// about to (see packable): touched moves up to the snapshot's last
// activity and update, which eviction reads. The caller holds s.mu.
func (e *sessionEntry) letGoSnap() {
	for _, t := range []time.Time{e.snap.LastActivityAt, e.snap.UpdatedAt} {
		e.touched = max(e.touched, t.UnixNano())
	}
	newest := e.turns[len(e.turns)-1]
	newest.liveAfter, newest.liveJSON = nil, nil
	e.snap = nil
}

// chill moves e, packed, from the maps the collector scans into s.cold
// when every turn of it holds its SessionAfter encoded and its record as
// JSON, which all but sessions with no JSON form do, and its record is
// at most maxRecord long; it returns the bytes it copied. The caller
// holds s.mu, and no turn holds or awaits e's lease.
func (s *Store) chill(e *sessionEntry) int { return s.chillAfter(e, nil, nil) }

// chillAfter is chill for e whose newest turn does not hold its
// SessionAfter yet, when after (its JSON) is not nil: compressed by enc,
// then as chillCompressed.
func (s *Store) chillAfter(e *sessionEntry, enc *encoder, after []byte) int {
	var compressed []byte
	if after != nil {
		compressed = enc.compress(after)
	}
	return s.chillCompressed(e, compressed)
}

// chillCompressed is chill for e whose newest turn does not hold its
// SessionAfter yet, when compressed (that SessionAfter's JSON,
// compressed) is not nil: into the turn when e stays where it is, else
// straight into e's record in the slab, with no copy of its own on the
// heap. The record's size is then known to the byte, so a slab gives it
// no more room than it takes.
func (s *Store) chillCompressed(e *sessionEntry, compressed []byte) int {
	size := recordSize(e)
	if compressed != nil {
		if size += len(compressed); !s.coldable(e, size, true) {
			newest := e.turns[len(e.turns)-1]
			newest.after, newest.delta = string(compressed), false
			compressed, size = nil, recordSize(e)
		}
	}
	if !s.coldable(e, size, compressed != nil) {
		return 0 // it stays packed in place
	}
	n := s.cold.put(e, size, e.active, compressed)
	s.drop(e)
	return n
}

// coldable reports whether e, whose record takes at most size bytes, can
// go cold (see chill); pending says its newest turn's SessionAfter goes
// into the record from elsewhere (see chillAfter).
func (s *Store) coldable(e *sessionEntry, size int, pending bool) bool {
	if s.coldOff || size > maxRecord {
		return false
	}
	for i, t := range e.turns {
		if t.record != nil || !t.hasAfter() && !(pending && i == len(e.turns)-1) {
			return false
		}
	}
	return true
}

// thaw moves the cold session of h back into the maps, packed as chill
// found it, and queues it for pack: a read leaves it to go cold again,
// and a turn makes it live first (see current). The caller holds s.mu.
func (s *Store) thaw(h uint32) *sessionEntry {
	e, active := s.cold.take(h)
	s.sessions[e.id()] = e
	s.hotPeak = max(s.hotPeak, len(s.sessions))
	if active {
		s.active[e.key()], e.active = e, true
	}
	for _, t := range e.turns {
		s.turnByID[t.id()] = t
		if answers := t.answers(); answers != "" {
			s.answered[answers] = t.id()
		}
	}
	s.used.add(e, e.touched)
	return e
}

// thawSession thaws tenantID's cold session id; the caller holds s.mu.
func (s *Store) thawSession(tenantID, id string) (*sessionEntry, bool) {
	h, ok := s.cold.findID(id)
	if !ok || s.cold.tenant(h) != tenantID {
		return nil, false
	}
	return s.thaw(h), true
}

// thawTurn thaws the cold session of tenantID that kept turn id, and
// returns the turn; the caller holds s.mu.
func (s *Store) thawTurn(tenantID, id string) (*storedTurn, bool) {
	h, ok := s.cold.findTurn(id)
	if !ok || s.cold.tenant(h) != tenantID {
		return nil, false
	}
	s.thaw(h)
	t, ok := s.turnByID[id]
	return t, ok
}

// shrinkHot makes the maps of sessions in use anew once they hold a
// fraction of what they held: a map never shrinks, and every collection
// scans all of its room. The caller holds s.mu.
func (s *Store) shrinkHot() {
	if s.hotPeak < 512 || len(s.sessions) > s.hotPeak/4 {
		return
	}
	s.sessions = remade(s.sessions)
	s.active = remade(s.active)
	s.turnByID = remade(s.turnByID)
	s.answered = remade(s.answered)
	s.hotPeak = len(s.sessions)
}

// remade returns a copy of m sized for what it holds.
func remade[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// idleQueue holds sessions oldest use first, each with when it was used,
// for pack. An entry is in it at most once.
type idleQueue struct {
	items []usedEntry
	head  int
}

type usedEntry struct {
	e  *sessionEntry
	at int64
}

// add queues e, used at at, unless it is queued.
func (q *idleQueue) add(e *sessionEntry, at int64) {
	if e.queued {
		return
	}
	e.queued = true
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, usedEntry{e, at})
}

// next takes the oldest queued entry when it was used at or before
// before.
func (q *idleQueue) next(before int64) (*sessionEntry, int64, bool) {
	if q.head == len(q.items) || q.items[q.head].at > before {
		return nil, 0, false
	}
	u := q.items[q.head]
	q.items[q.head] = usedEntry{}
	q.head++
	u.e.queued = false
	if q.head == len(q.items) {
		// Emptied: a big array would still be scanned by every collection.
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 1024 {
			q.items = nil
		}
	}
	return u.e, u.at, true
}

// getEncoder returns *enc, taking it from encoders first when it is nil.
func getEncoder(enc **encoder) *encoder {
	if *enc == nil {
		*enc = encoders.Get().(*encoder)
	}
	return *enc
}
