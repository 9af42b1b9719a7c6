package memory

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"strings"
	"unique"
	"unsafe"

	"focal/domain"
)

// coldStore keeps packed sessions (see Store.pack) where the garbage
// collector never looks: each session, its turns included, is one record
// in a large byte slab, and the indexes that find it are maps whose keys
// and values hold no pointers, which no collection scans. A store keeps
// hundreds of thousands of idle sessions; kept as entries, turns and
// strings they were five objects each to mark, and their map entries
// hundreds of bytes to scan, in every collection.
//
// A record is written once and never changed: a session that is used
// again is taken out (thawed) and its record is dead; one dropped by
// retention likewise. compact moves the live records of slabs mostly dead
// into the slab being filled, so the memory follows the sessions kept.
// Since no byte of a slab is ever written twice, a string viewing a
// record stays valid even after compaction let the slab go.
type coldStore struct {
	// slabs are the slabs by number; nil once let go. live counts the
	// bytes of their live records. cur is the slab being filled, -1 when
	// there is none.
	slabs [][]byte
	live  []int
	cur   int
	// spare are the numbers of slabs let go, for newSlab to reuse.
	spare []int
	// written and alive total the bytes written into the slabs kept and
	// those of live records: the difference is dead records' (see
	// compactSome).
	written, alive int
	// slots hold each kept session's record's place (see place), by the
	// session's handle; 0 for a handle free for reuse, listed in free.
	slots []uint64
	free  []uint32
	// The indexes: session id, channel key (of active sessions only),
	// turn id and answered key to handle.
	byID, byKey, byTurn, byAnswer coldIndex
	// names are the channel names records name by number, numbered in
	// nameNumbers.
	names       []unique.Handle[channelNames]
	nameNumbers map[unique.Handle[channelNames]]uint32
	// lastNames is the number nameNumber returned last, looked at before
	// nameNumbers: sessions going cold together mostly name the same few.
	lastNames uint32
	// moving is the slab compactPart is emptying, if base is set.
	moving slabMove
}

// slabSize is the size of a slab: a few dozen new users' sessions. A
// record of more than a quarter of that gets a slab of its own (see
// slabFor).
//
// Small on purpose. A slab is let go only once none of its records is
// live, and the one being filled counts whole: at 1 MiB, slabs held a
// few MiB of dead records and empty room that came and went with the
// sweeps, so the heap each collection found live swung (s.d. 0.84 MiB
// over make bench's 10-minute soak), the collector's goal (live + 128
// MiB) rose to each new high, the heap's address space in 4 MiB steps
// after it (191 → 199 MiB), and RSS crept on: +0.90 MiB/min. Side by
// side on the same soak, 64 KiB slabs held 3 MiB less live heap (57.0
// against 59.8 MiB), swinging half as much (s.d. 0.45), the address
// space did not grow, and RSS stayed level from the third minute:
// +0.24 MiB/min (in two more pairs, 0.46 against 0.85 and 0.22 against
// 0.77).
const slabSize = 64 << 10

// maxRecord bounds the records kept: a session of hundreds of turns stays
// packed in place, since going cold and thawing copy its record whole,
// under the store's lock.
const maxRecord = 256 << 10

// coldIndex finds a handle by a key's hash. Two keys may share a hash: the
// first one indexed keeps it, and the others are found by key in clash,
// which only holds strings in that rare case.
type coldIndex struct {
	byHash map[uint64]uint32
	clash  map[string]uint32
}

// find returns the handle hash leads to when is says it is key's.
func (x *coldIndex) find(hash uint64, is func(h uint32) bool) (uint32, bool) {
	h, ok := x.byHash[hash]
	return h, ok && is(h)
}

// findClash returns the handle of key when a hash clash put it aside.
func (x *coldIndex) findClash(key string) (uint32, bool) {
	h, ok := x.clash[key]
	return h, ok
}

// add indexes h under key, whose hash is hash.
func (x *coldIndex) add(hash uint64, key string, h uint32) {
	if !x.addHash(hash, h) {
		x.addClash(key, h)
	}
}

// addHash indexes h under hash unless another handle holds it; then the
// caller adds h by key (addClash).
func (x *coldIndex) addHash(hash uint64, h uint32) bool {
	if x.byHash == nil {
		x.byHash = map[uint64]uint32{}
	}
	if _, taken := x.byHash[hash]; taken {
		return false
	}
	x.byHash[hash] = h
	return true
}

func (x *coldIndex) addClash(key string, h uint32) {
	if x.clash == nil {
		x.clash = map[string]uint32{}
	}
	x.clash[strings.Clone(key)] = h // key may view a slab
}

// remove takes h, indexed under key, out of the index.
func (x *coldIndex) remove(hash uint64, key string, h uint32) {
	if !x.removeHash(hash, h) {
		x.removeClash(key, h)
	}
}

// removeHash takes h out when it holds hash; else the caller takes it out
// by key (removeClash).
func (x *coldIndex) removeHash(hash uint64, h uint32) bool {
	if got, ok := x.byHash[hash]; ok && got == h {
		delete(x.byHash, hash)
		return true
	}
	return false
}

func (x *coldIndex) removeClash(key string, h uint32) {
	if got, ok := x.clash[key]; ok && got == h {
		delete(x.clash, key)
		if len(x.clash) == 0 {
			x.clash = nil
		}
	}
}

// coldSeed seeds the indexes' hashes; hashMask lets a test force clashes.
var (
	coldSeed = maphash.MakeSeed()
	hashMask = ^uint64(0)
)

func hashString(s string) uint64 { return maphash.String(coldSeed, s) & hashMask }

// channelKeyOf is the byKey key of the user channel id user on the channel
// names numbered names.
func channelKeyOf(names uint32, user string) string {
	return string(binary.LittleEndian.AppendUint32(nil, names)) + user
}

func hashChannelKey(names uint32, user string) uint64 {
	return (maphash.String(coldSeed, user) ^ uint64(names)*0x9e3779b97f4a7c15) & hashMask
}

// coldRecord is a session's record: a string viewing a slab, or a copy.
//
// Its layout, little-endian: length (u32), handle (u32), channel names'
// number (u32), id length (u32), created and touched (i64), flags (u8:
// recordActive), ids and status (each u32 length and bytes), the number
// of turns (u32), then per turn its number (i64), ends (u32 each), delta
// (u8), text and after (each u32 length and bytes).
type coldRecord string

// recordActive flags a session that is its channel key's active one.
const recordActive = 1

const (
	recordNamesAt   = 8
	recordIDLenAt   = 12
	recordCreatedAt = 16
	recordTouchedAt = 24
	recordFlagsAt   = 32
	recordIDsAt     = 33
)

func (r coldRecord) u32(at int) uint32 {
	return uint32(r[at]) | uint32(r[at+1])<<8 | uint32(r[at+2])<<16 | uint32(r[at+3])<<24
}

func (r coldRecord) u64(at int) uint64 { return uint64(r.u32(at)) | uint64(r.u32(at+4))<<32 }

// str returns the string at at and where what follows it starts.
func (r coldRecord) str(at int) (string, int) {
	n := int(r.u32(at))
	return string(r[at+4 : at+4+n]), at + 4 + n
}

func (r coldRecord) handle() uint32     { return r.u32(4) }
func (r coldRecord) names() uint32      { return r.u32(recordNamesAt) }
func (r coldRecord) created() int64     { return int64(r.u64(recordCreatedAt)) }
func (r coldRecord) touched() int64     { return int64(r.u64(recordTouchedAt)) }
func (r coldRecord) active() bool       { return r[recordFlagsAt]&recordActive != 0 }
func (r coldRecord) ids() string        { s, _ := r.str(recordIDsAt); return s }
func (r coldRecord) id() string         { return r.ids()[:r.u32(recordIDLenAt)] }
func (r coldRecord) user() string       { return r.ids()[r.u32(recordIDLenAt):] }
func (r coldRecord) idLen() uint32      { return r.u32(recordIDLenAt) }
func (r coldRecord) turnCount() int     { n, _ := r.turnsAt(); return n }
func (r coldRecord) status() string     { s, _ := r.str(recordIDsAt + 4 + len(r.ids())); return s }
func (r coldRecord) statusAt() int      { return recordIDsAt + 4 + len(r.ids()) }
func (r coldRecord) copied() coldRecord { return coldRecord(strings.Clone(string(r))) }

// turnsAt returns the number of turns and where the first starts.
func (r coldRecord) turnsAt() (int, int) {
	_, at := r.str(r.statusAt())
	return int(r.u32(at)), at + 4
}

// turn reads the turn at at into t, returning where the next starts. t's
// strings view r.
func (r coldRecord) turn(at int, t *storedTurn) int {
	t.number = int(int64(r.u64(at)))
	at += 8
	for i := range t.ends {
		t.ends[i] = r.u32(at)
		at += 4
	}
	t.delta = r[at] != 0
	t.text, at = r.str(at + 1)
	t.after, at = r.str(at)
	return at
}

// eachTurn calls fn with each turn of r, oldest first, until it returns
// false.
func (r coldRecord) eachTurn(fn func(t *storedTurn) bool) {
	n, at := r.turnsAt()
	var t storedTurn
	for range n {
		if at = r.turn(at, &t); !fn(&t) {
			return
		}
	}
}

// recordSize is the size of e's record.
func recordSize(e *sessionEntry) int {
	n := recordIDsAt + 4 + len(e.ids) + 4 + len(e.status) + 4
	for _, t := range e.turns {
		n += 8 + 4*len(t.ends) + 1 + 4 + len(t.text) + 4 + len(t.after)
	}
	return n
}

// appendRecord appends e's record, kept under handle h, to b. compressed,
// when not nil, is the newest turn's SessionAfter as encoder.compress
// compresses its JSON, which the turn does not hold: the record holds it
// as the turn would have.
func appendRecord(b []byte, e *sessionEntry, h, names uint32, active bool, compressed []byte) []byte {
	le := binary.LittleEndian
	start := len(b)
	b = le.AppendUint32(b, 0) // its length, set below
	b = le.AppendUint32(b, h)
	b = le.AppendUint32(b, names)
	b = le.AppendUint32(b, e.idLen)
	b = le.AppendUint64(b, uint64(e.created))
	b = le.AppendUint64(b, uint64(e.touched))
	flags := byte(0)
	if active {
		flags |= recordActive
	}
	b = append(b, flags)
	b = appendString(b, e.ids)
	b = appendString(b, string(e.status))
	b = le.AppendUint32(b, uint32(len(e.turns)))
	for i, t := range e.turns {
		b = le.AppendUint64(b, uint64(t.number))
		for _, end := range t.ends {
			b = le.AppendUint32(b, end)
		}
		delta := byte(0)
		if t.delta {
			delta = 1
		}
		b = appendString(append(b, delta), t.text)
		if compressed != nil && i == len(e.turns)-1 {
			b = appendString(b, compressed)
		} else {
			b = appendString(b, t.after)
		}
	}
	le.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendString appends s as a string of a record: its length (u32),
// then its bytes.
func appendString[S string | []byte](b []byte, s S) []byte {
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(s))), s...)
}

// place is where a record lies: its slab's number plus one, and its
// offset in that slab.
func place(slab, off int) uint64 { return uint64(slab+1)<<32 | uint64(off) }

func unplace(p uint64) (slab, off int) { return int(p>>32) - 1, int(uint32(p)) }

// record views the record of handle h, which is kept.
func (c *coldStore) record(h uint32) coldRecord {
	slab, off := unplace(c.slots[h])
	b := c.slabs[slab][off:]
	n := int(binary.LittleEndian.Uint32(b))
	return coldRecord(unsafe.String(&b[0], n))
}

// nameNumber numbers names, once.
func (c *coldStore) nameNumber(names unique.Handle[channelNames]) uint32 {
	if int(c.lastNames) < len(c.names) && c.names[c.lastNames] == names {
		return c.lastNames
	}
	if n, ok := c.nameNumbers[names]; ok {
		c.lastNames = n
		return n
	}
	if c.nameNumbers == nil {
		c.nameNumbers = map[unique.Handle[channelNames]]uint32{}
	}
	n := uint32(len(c.names))
	c.names = append(c.names, names)
	c.nameNumbers[names], c.lastNames = n, n
	return n
}

// put keeps e, packed, as a record of size bytes (recordSize, plus the
// length of compressed, see appendRecord); active says it is its channel
// key's active session. It returns the record's size.
func (c *coldStore) put(e *sessionEntry, size int, active bool, compressed []byte) int {
	h := c.handle()
	names := c.nameNumber(e.names)
	slab := c.slabFor(size)
	off := len(c.slabs[slab])
	c.slabs[slab] = appendRecord(c.slabs[slab], e, h, names, active, compressed)
	n := len(c.slabs[slab]) - off
	c.live[slab] += n
	c.written += n
	c.alive += n
	c.slots[h] = place(slab, off)
	c.index(e, names, active, h)
	return n
}

// handle returns a free handle.
func (c *coldStore) handle() uint32 {
	if n := len(c.free); n > 0 {
		h := c.free[n-1]
		c.free = c.free[:n-1]
		return h
	}
	c.slots = append(c.slots, 0)
	return uint32(len(c.slots) - 1)
}

// slabFor returns the number of a slab with room for size more bytes. A
// record of more than a quarter of a slab gets one of its own, just its
// size, and the slab being filled stays the one being filled: a returning
// user's record of 20 turns (about 44 KB) would leave a third of a shared
// slab empty.
func (c *coldStore) slabFor(size int) int {
	if size > slabSize/4 {
		return c.newSlab(size)
	}
	if c.cur < 0 || c.slabs[c.cur] == nil || len(c.slabs[c.cur])+size > cap(c.slabs[c.cur]) {
		c.cur = c.newSlab(slabSize)
	}
	return c.cur
}

// newSlab makes an empty slab of capacity size, reusing a number let go.
func (c *coldStore) newSlab(size int) int {
	b := make([]byte, 0, size)
	if n := len(c.spare); n > 0 {
		i := c.spare[n-1]
		c.spare = c.spare[:n-1]
		c.slabs[i], c.live[i] = b, 0
		return i
	}
	c.slabs = append(c.slabs, b)
	c.live = append(c.live, 0)
	return len(c.slabs) - 1
}

// index adds e, kept under h, to the indexes; names numbers its channel
// names, and active says it is its channel key's active session.
func (c *coldStore) index(e *sessionEntry, names uint32, active bool, h uint32) {
	id := e.id()
	c.byID.add(hashString(id), id, h)
	if user := e.ids[e.idLen:]; active && !c.byKey.addHash(hashChannelKey(names, user), h) {
		c.byKey.addClash(channelKeyOf(names, user), h) // made only then
	}
	for _, t := range e.turns {
		id := t.id()
		c.byTurn.add(hashString(id), id, h)
		if a := t.answers(); a != "" {
			c.byAnswer.add(hashString(a), a, h)
		}
	}
}

// unindex takes r, kept under h, out of the indexes.
func (c *coldStore) unindex(r coldRecord, h uint32) {
	c.unindexSession(r.id(), r.user(), r.names(), r.active(), h)
	r.eachTurn(func(t *storedTurn) bool {
		c.unindexTurn(t, h)
		return true
	})
}

// unindexSession takes the session id of h, on the user channel id user
// of the channel names numbered names, out of the indexes; active says it
// is its channel key's active session. Its turns stay indexed.
func (c *coldStore) unindexSession(id, user string, names uint32, active bool, h uint32) {
	c.byID.remove(hashString(id), id, h)
	if active && !c.byKey.removeHash(hashChannelKey(names, user), h) {
		c.byKey.removeClash(channelKeyOf(names, user), h)
	}
}

// unindexTurn takes t, a turn of the session of h, out of the indexes.
func (c *coldStore) unindexTurn(t *storedTurn, h uint32) {
	id := t.id()
	c.byTurn.remove(hashString(id), id, h)
	if a := t.answers(); a != "" {
		c.byAnswer.remove(hashString(a), a, h)
	}
}

// take removes the session of h and returns it as an entry of its own
// (see entry) on its record, and whether it is its channel key's active
// session. The entry's turns are read once, to take them out of the
// indexes too.
//
// A record alone in its slab (one of more than a quarter of a slab: a
// returning user's, see slabFor) is taken over, not copied: release lets
// that slab go, and no byte of a slab is ever written again once
// appended, nor a slab let go reused (newSlab makes a new one), so the
// entry's strings may view it. Copying it was most of a thaw: a record
// of a hundred turns is about 100 KB, a large allocation of its own whose
// pages the system gave anew, about half a millisecond under the store's
// lock (BenchmarkThawReturningUser). A record sharing its slab is copied,
// so that it does not hold the others' bytes once they are dead.
func (c *coldStore) take(h uint32) (*sessionEntry, bool) {
	r := c.record(h)
	if !c.alone(h, r) {
		r = r.copied()
	}
	e := c.entry(r)
	c.unindexSession(e.id(), e.ids[e.idLen:], r.names(), r.active(), h)
	for _, t := range e.turns {
		c.unindexTurn(t, h)
	}
	c.release(h, len(r))
	return e, r.active()
}

// alone reports whether r, the record of h, is all its slab holds and
// has room for, and the slab is not the one being filled: release then
// lets the slab go, and the entry holds no byte more than a copy would.
func (c *coldStore) alone(h uint32, r coldRecord) bool {
	slab, off := unplace(c.slots[h])
	return off == 0 && slab != c.cur && cap(c.slabs[slab]) == len(r)
}

// drop forgets the session of h: its record is dead.
func (c *coldStore) drop(h uint32) {
	r := c.record(h)
	c.unindex(r, h)
	c.release(h, len(r))
}

// release frees h, out of the indexes; its record of n bytes is dead.
func (c *coldStore) release(h uint32, n int) {
	slab, _ := unplace(c.slots[h])
	c.slots[h] = 0
	c.free = append(c.free, h)
	c.alive -= n
	if c.live[slab] -= n; c.live[slab] == 0 && slab != c.cur {
		c.letGo(slab)
	}
}

// tenant is the tenant of the session of h.
func (c *coldStore) tenant(h uint32) string { return c.names[c.record(h).names()].Value().tenant }

// findID returns the handle of session id.
func (c *coldStore) findID(id string) (uint32, bool) {
	if h, ok := c.byID.find(hashString(id), func(h uint32) bool { return c.record(h).id() == id }); ok {
		return h, true
	}
	return c.byID.findClash(id)
}

// findKey returns the handle of k's active session.
func (c *coldStore) findKey(k activeKey) (uint32, bool) {
	names, ok := c.nameNumbers[k.names]
	if !ok {
		return 0, false // no session kept names them
	}
	is := func(h uint32) bool {
		r := c.record(h)
		return r.active() && r.names() == names && r.user() == k.user
	}
	if h, ok := c.byKey.find(hashChannelKey(names, k.user), is); ok {
		return h, true
	}
	if c.byKey.clash == nil {
		return 0, false
	}
	return c.byKey.findClash(channelKeyOf(names, k.user))
}

// findTurn returns the handle of the session that kept turn id.
func (c *coldStore) findTurn(id string) (uint32, bool) {
	if h, ok := c.byTurn.find(hashString(id), func(h uint32) bool { return c.record(h).hasTurn(id) }); ok {
		return h, true
	}
	return c.byTurn.findClash(id)
}

// findAnswer returns the id of the kept turn that answered the keyed
// request answers (see storedTurn.answers).
func (c *coldStore) findAnswer(answers string) (string, bool) {
	h, ok := c.byAnswer.find(hashString(answers), func(h uint32) bool { return c.record(h).answerOf(answers) != "" })
	if !ok {
		if h, ok = c.byAnswer.findClash(answers); !ok {
			return "", false
		}
	}
	return strings.Clone(c.record(h).answerOf(answers)), true
}

func (r coldRecord) hasTurn(id string) bool {
	found := false
	r.eachTurn(func(t *storedTurn) bool {
		found = t.id() == id
		return !found
	})
	return found
}

// answerOf returns the id of r's turn that answers answers, or "".
func (r coldRecord) answerOf(answers string) string {
	id := ""
	r.eachTurn(func(t *storedTurn) bool {
		if t.answers() == answers {
			id = t.id()
		}
		return id == ""
	})
	return id
}

// entry returns the session of r as an entry of its own: what packing
// made of it (no snapshot), its turns viewing r.
func (c *coldStore) entry(r coldRecord) *sessionEntry {
	e := &sessionEntry{names: c.names[r.names()], ids: strings.Clone(r.ids()), idLen: r.idLen(),
		status: internStatus(r.status()), created: r.created(), touched: r.touched()}
	n, at := r.turnsAt()
	e.turns = e.first[:0]
	var kept []storedTurn // the entry holds a single one
	if n > len(e.first) {
		e.turns, kept = make([]*storedTurn, 0, n), make([]storedTurn, n)
	}
	for i := range n {
		t := &e.firstTurn
		if kept != nil {
			t = &kept[i]
		}
		at = r.turn(at, t)
		t.sess = e
		e.turns = append(e.turns, t)
	}
	return e
}

// internStatus returns status without holding the record it views.
func internStatus(status string) domain.SessionStatus {
	switch s := domain.SessionStatus(status); s {
	case domain.SessionActive, domain.SessionClosed:
		return s
	}
	return domain.SessionStatus(strings.Clone(status))
}

// compact moves the live records of each slab (but the one being filled)
// less than half live into the slab being filled, and lets the slab go.
// At most limit slabs; more reports that it stopped there.
func (c *coldStore) compact(limit int) (more bool) {
	for i, b := range c.slabs {
		if b == nil || i == c.cur || c.live[i]*2 >= cap(b) {
			continue
		}
		if limit--; limit < 0 {
			return true
		}
		c.move(i)
	}
	return false
}

// move moves the live records of slab i elsewhere and lets it go.
func (c *coldStore) move(i int) {
	c.moveFrom(i, 0, math.MaxInt)
	c.letGo(i)
}

// moveFrom moves the live records of slab i from offset off on elsewhere
// until it copied budget bytes, and returns where it stopped.
func (c *coldStore) moveFrom(i, off, budget int) int {
	b := c.slabs[i]
	for off < len(b) && budget > 0 {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		r := coldRecord(unsafe.String(&b[off], n))
		if h := r.handle(); int(h) < len(c.slots) && c.slots[h] == place(i, off) {
			c.live[i] -= n
			slab := c.slabFor(n)
			c.slots[h] = place(slab, len(c.slabs[slab]))
			c.slabs[slab] = append(c.slabs[slab], r...)
			c.live[slab] += n
			c.written += n
			budget -= n
		}
		off += n
	}
	return off
}

// letGo lets slab i go, its records dead or moved; newSlab reuses its
// number.
func (c *coldStore) letGo(i int) {
	c.written -= len(c.slabs[i])
	c.slabs[i], c.live[i] = nil, 0
	c.spare = append(c.spare, i)
}

// compactSome moves together the records of the emptiest slab once dead
// records take more room than live ones and two slabs more: a store
// swept seldom or never (no TTL) still keeps at most about twice what it
// holds, each move copying at most half a slab. It reports whether it
// moved a slab's dead records out.
func (c *coldStore) compactSome() bool {
	if !c.compactable() {
		return false
	}
	emptiest := c.emptiest()
	if emptiest < 0 {
		return false
	}
	dead := c.written - c.alive
	c.move(emptiest)
	return c.written-c.alive < dead // else moving more may not help
}

// emptiest returns the number of the slab least live for its length, but
// the one being filled and those with no dead bytes (a record's slab of
// its own, see slabFor: moving it would free nothing), -1 when there is
// none.
func (c *coldStore) emptiest() int {
	emptiest := -1
	for i, b := range c.slabs {
		if b == nil || i == c.cur || c.live[i] == len(b) {
			continue
		}
		if emptiest < 0 || c.live[i]*len(c.slabs[emptiest]) < c.live[emptiest]*len(b) {
			emptiest = i
		}
	}
	return emptiest
}

// slabMove is a slab compactPart empties over several calls: its number
// and first byte (a number let go is reused), how far it got, and the
// dead bytes of all slabs when it began.
type slabMove struct {
	slab int
	base *byte
	off  int
	dead int
}

// compactPart does compactSome's work in parts of at most budget bytes
// copied, going on with the same slab on the next call: a slab's move
// copies up to half a slab, too long to hold the store's lock for on the
// turn's path. It reports whether work is left.
func (c *coldStore) compactPart(budget int) (more bool) {
	m := &c.moving
	if m.base != nil && unsafe.SliceData(c.slabs[m.slab]) != m.base {
		m.base = nil // let go meanwhile: emptied by drops, or moved whole
	}
	if m.base == nil {
		i := -1
		if c.compactable() {
			i = c.emptiest()
		}
		if i < 0 {
			return false
		}
		*m = slabMove{slab: i, base: unsafe.SliceData(c.slabs[i]), dead: c.written - c.alive}
	}
	if m.off = c.moveFrom(m.slab, m.off, budget); m.off < len(c.slabs[m.slab]) {
		return true
	}
	c.letGo(m.slab)
	m.base = nil
	return c.compactable() && c.written-c.alive < m.dead // else moving more may not help
}

// compacting reports whether compactPart has work: a slab it is emptying,
// or slabs to move together.
func (c *coldStore) compacting() bool { return c.moving.base != nil || c.compactable() }

// compactable reports whether compactSome has slabs to move together.
func (c *coldStore) compactable() bool { return c.written-c.alive > c.alive+2*slabSize }
