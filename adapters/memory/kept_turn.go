package memory

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"

	"focal/domain"
)

// storedTurn is one committed turn as kept. A store keeps millions of
// them, and every garbage collection marks what it keeps: so a kept turn
// is one small object and two pointer-free strings, never the tree of
// maps, slices and strings the application built (an explanation alone
// holds dozens of objects).
//
// A stored turn is written under the store's lock and, apart from
// liveAfter (see commit and Store.pack) and after (see
// Store.shrinkAfter), never changed: readers copy it under the lock and
// decode the copy outside it.
type storedTurn struct {
	// text, sess, ends and number come first, in the object's first cache
	// line (a kept turn is 120 bytes, 128-aligned): they are what a
	// lease's history entries (see history) and a commit's look at the
	// turns before (see sessionEntry.keeps) read, ten turns a returning
	// user's turn, seldom in the cache under load. Laid out as the fields
	// were declared, they took two lines a turn.

	// text holds, one after the other (ends says where each part ends):
	// what the prompt's history entry needs (message, response, status,
	// scenario id and step), the turn's id (the key of turnByID), the
	// answered key of the keyed request this completed turn answers ("" for
	// any other turn; the key of Store.answered), and the audit record,
	// SessionAfter left out, as encoder.encodeAudit makes it: the JSON
	// that decode always copied the record through, with tokens for its
	// commonest member names and its scores, and without the strings the
	// parts before it and the session's entry hold (see keptStrings).
	text string
	sess *sessionEntry
	// ends are where the parts of text end, the audit record's at the end
	// of text.
	ends [partAudit]uint32
	// delta is set once after holds SessionAfter as a delta against the
	// next newer kept turn's (see after_delta.go): the session's newest
	// turn, and every wholeAfterEvery-th, hold it whole.
	delta  bool
	number int
	// after is SessionAfter's JSON (Session.AppendJSON), S2-compressed
	// whole, or once a newer turn is kept, a delta against that one's
	// JSON (see delta). It is "" while liveAfter alone holds SessionAfter:
	// while the turn is its session's newest and the session is in use
	// (Store.pack encodes it when it lets liveAfter go), and for good when
	// SessionAfter has no JSON form. It is a string of its own, so that a
	// delta lets the whole encoding go.
	after string
	// liveAfter is SessionAfter itself, frozen, while the turn is its
	// session's newest and the session is in use: it is the session's
	// current snapshot then, and costs nothing more to keep, so after
	// does not hold it too (a returning user's grown state would be kept
	// twice). Store.pack lets it go once the session is idle, encoding it
	// into after, and the next use decodes it. The turn before the newest
	// holds it too until the commit after it has encoded it (shrinkAfter).
	liveAfter *domain.Session
	// liveJSON is liveAfter's JSON, when the commit that made the turn its
	// session's newest encoded it (the newer side of the delta, see
	// shrinkAfter): the next commit keeps liveAfter as a delta against its
	// own, and reads the JSON here instead of encoding the session a second
	// time. Pointer-free, and let go with liveAfter.
	liveJSON []byte
	// record is the turn as handed over, kept only when it has no JSON
	// form (json.Marshal failed): its audit reads then fail as before.
	record *domain.Turn
}

// The parts of storedTurn.text, in order.
const (
	partMessage = iota
	partResponse
	partStatus
	partScenario
	partStep
	partID
	partAnswers
	partAudit
)

// keepTurn encodes what a store keeps of turn but SessionAfter, which the
// turn holds live while it is its session's newest (see
// storedTurn.liveAfter), with enc; the caller has not taken the store's
// lock, since turn is its own. The commit places it (see
// sessionEntry.place). sessionAgent says the audit record leaves out the
// agent, the session's (see keptStrings).
func keepTurn(enc *encoder, turn *domain.Turn, sessionAgent bool) storedTurn {
	h := turn.History()
	st := storedTurn{number: turn.TurnNumber}
	audit, err := enc.encodeAudit(turn, sessionAgent)
	if err != nil {
		st.record = turn
	}
	answers := ""
	if turn.KeyedRequest != "" && turn.Status == domain.TurnCompleted {
		answers = idemKey(turn.TenantID, turn.KeyedRequest)
	}
	strs := [...]string{h.Message, h.Response, string(h.Status), h.Scenario.ID, h.Scenario.Step, turn.ID, answers}
	size := len(audit)
	for _, p := range strs {
		size += len(p)
	}
	var text strings.Builder
	text.Grow(size)
	for i, p := range strs {
		text.WriteString(p)
		st.ends[i] = uint32(text.Len())
	}
	text.Write(audit)
	st.text = text.String()
	return st
}

// part returns part i of the kept text.
func (t *storedTurn) part(i int) string {
	if i == partAudit {
		return t.text[t.ends[partAudit-1]:]
	}
	return packedPart(t.text, t.ends[:], i)
}

// packedPart returns part i of text, whose parts lie one after the other,
// part i ending at ends[i].
func packedPart(text string, ends []uint32, i int) string {
	start := uint32(0)
	if i > 0 {
		start = ends[i-1]
	}
	return text[start:ends[i]]
}

// id is the turn's id.
func (t *storedTurn) id() string { return t.part(partID) }

// answers is the answered key of the keyed request this completed turn
// answers, "" for any other turn.
func (t *storedTurn) answers() string { return t.part(partAnswers) }

// hasAfter reports whether the turn holds SessionAfter encoded.
func (t *storedTurn) hasAfter() bool { return t.after != "" }

// encoder turns a value into what a store keeps of it: its JSON form
// (json.Marshal's bytes), a session's compressed with S2 when kept whole,
// an audit record's with tokens (see encodeAudit). Its buffers are reused
// from commit to commit.
type encoder struct {
	json       bytes.Buffer
	to         *json.Encoder // writes to json
	compressed []byte
	// Scratch space for sessions' JSON (newer, older), shrinkAfter and
	// encodeAudit.
	newer, older, delta, audit []byte
	bigAudit                   []byte // a long audit record, compressed (see encodeAudit)
	index                      [1 << deltaMaxBits]int32
}

// encoders are the encoders for keepTurn, shrinkAfter and Store.pack.
var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.to = json.NewEncoder(&e.json)
	return e
}}

// compress returns raw compressed, valid until the next compress.
func (e *encoder) compress(raw []byte) []byte {
	e.compressed = compressInto(e.compressed, raw)
	return e.compressed
}

// compressInto returns raw compressed into dst's room, made larger when
// it has too little.
func compressInto(dst, raw []byte) []byte {
	if n := s2.MaxEncodedLen(len(raw)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.Encode(dst[:cap(dst)], raw)
}

// sessionJSON returns sess's JSON (Session.AppendJSON, json.Marshal's
// bytes), valid until the next sessionJSON: raw when the caller has it
// (see storedTurn.liveJSON), else made in the encoder's scratch space.
// Kept whole, it is compressed (see compress).
func (e *encoder) sessionJSON(sess *domain.Session, raw []byte) ([]byte, error) {
	if raw != nil {
		return raw, nil
	}
	raw, err := sess.AppendJSON(e.older[:0])
	if err != nil {
		return nil, err
	}
	e.older = raw
	return raw, nil
}

// decodeKept reads into v what encoder.encode made.
func decodeKept(b []byte, v any) error {
	raw, err := s2.Decode(nil, b)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// history is the turn's entry for later prompts: substrings of text, no
// copy.
func (t *storedTurn) history() domain.HistoryEntry {
	// The parts in one pass, each starting where the one before ends: a
	// lease copies ten entries a turn.
	text, ends := t.text, &t.ends
	return domain.HistoryEntry{
		TurnNumber: t.number,
		Message:    text[:ends[partMessage]],
		Response:   text[ends[partMessage]:ends[partResponse]],
		Status:     domain.TurnStatus(text[ends[partResponse]:ends[partStatus]]),
		Scenario:   domain.ScenarioRef{ID: text[ends[partStatus]:ends[partScenario]], Step: text[ends[partScenario]:ends[partStep]]},
	}
}

// decodeRecord returns the kept turn without SessionAfter, which the
// caller owns entirely: every map and slice is new (a field added to
// domain.Turn later is kept too, by its JSON form). t is a copy taken
// under the store's lock.
func (t *storedTurn) decodeRecord() (domain.Turn, error) {
	if t.record != nil {
		rec := *t.record
		rec.SessionAfter = nil
		return cloneJSON(rec)
	}
	var out domain.Turn
	err := decodeAudit([]byte(t.part(partAudit)), t.keptStrings(), &out)
	return out, err
}

// keptStrings returns the strings the turn's audit record leaves out (see
// keptStrings): its own parts of text, and its session's, which an entry
// never changes.
func (t *storedTurn) keptStrings() *keptStrings {
	var kept keptStrings
	kept[tokID], kept[tokMessage], kept[tokResponse], kept[tokStatus] = t.id(), t.part(partMessage), t.part(partResponse), t.part(partStatus)
	kept[tokTenantID], kept[tokSessionAgent], kept[tokSessionID] = t.sess.tenant(), t.sess.agent(), t.sess.id()
	return &kept
}

// decodeRun returns the first n turns of run, consecutive kept turns
// copied under the store's lock (see sessionEntry.copyRun), as decode
// returned them: each the caller's entirely.
func decodeRun(run []storedTurn, n int) ([]domain.Turn, error) {
	out := make([]domain.Turn, n)
	var r afterReader
	// Newest first: an older turn's SessionAfter may be a delta against
	// the next one's.
	for i := len(run) - 1; i >= 0; i-- {
		after, err := r.next(&run[i], i < n, i > 0 && run[i-1].delta)
		if err == nil && i < n {
			out[i], err = run[i].decodeRecord()
			out[i].SessionAfter = after
		}
		if err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
		}
	}
	return out, nil
}

// afterReader reads the SessionAfter of consecutive kept turns, newest
// first, holding the JSON of the last one read while the next older one
// is a delta against it.
type afterReader struct {
	json, spare []byte
}

// next returns a copy of t's SessionAfter that the caller owns when
// wanted (else nil), and keeps its JSON when deltaBefore says the older
// turn read next needs it.
func (r *afterReader) next(t *storedTurn, wanted, deltaBefore bool) (*domain.Session, error) {
	var err error
	switch {
	case t.delta:
		r.spare, err = applyDelta(r.spare, r.json, t.after)
		r.json, r.spare = r.spare, r.json
	case !deltaBefore && t.liveAfter != nil:
		if wanted {
			return t.liveAfter.Clone(), nil
		}
		return nil, nil
	case t.after == "":
		// Held live only: the older turn's delta was made against this
		// JSON (see shrinkAfter).
		r.json, err = t.liveAfter.AppendJSON(r.json[:0])
	case wanted || deltaBefore:
		r.json, err = s2.Decode(r.json[:cap(r.json)], []byte(t.after))
	}
	if err != nil || !wanted {
		return nil, err
	}
	if t.liveAfter != nil {
		return t.liveAfter.Clone(), nil
	}
	s := new(domain.Session)
	if err := json.Unmarshal(r.json, s); err != nil {
		return nil, err
	}
	return s, nil
}

// wholeAfterEvery bounds the deltas a read applies: a turn whose number
// it divides keeps its SessionAfter whole, unless retention keeps no more
// turns than that anyway.
const wholeAfterEvery = 32

// olderAfter is the turn before a commit's, when its SessionAfter is to be
// encoded (it is held live only) or can become a delta against the
// committed one's, and its SessionAfter as the commit found it.
type olderAfter struct {
	t     *storedTurn
	after string
	live  *domain.Session // held live only, after ""
	json  []byte          // live's JSON, when t holds it (storedTurn.liveJSON)
	// whole is set when the turn keeps its SessionAfter whole (see
	// wholeAfterEvery).
	whole bool
	// newest is the committed turn, where the session's JSON made here
	// is kept for the next commit.
	newest *storedTurn
}

// shrinkable returns the turn before newest, e's newest kept turn, when it
// holds its SessionAfter live only, or whole and its number is no multiple
// of wholeAfterEvery where retention keeps more turns (maxTurns 0: all).
// The caller holds the store's lock.
func (e *sessionEntry) shrinkable(newest *storedTurn, maxTurns int) olderAfter {
	n := len(e.turns)
	if n < 2 || e.turns[n-1] != newest {
		return olderAfter{}
	}
	t := e.turns[n-2]
	whole := t.number%wholeAfterEvery == 0 && (maxTurns == 0 || maxTurns > wholeAfterEvery)
	switch {
	case t.delta:
		return olderAfter{}
	case !t.hasAfter() && t.liveAfter != nil:
		return olderAfter{t: t, live: t.liveAfter, json: t.liveJSON, whole: whole}
	case !t.hasAfter() || whole:
		return olderAfter{}
	}
	return olderAfter{t: t, after: t.after}
}

// shrinkAfter keeps older's SessionAfter as a delta against newer, the
// SessionAfter committed after it in older.newest, when that is smaller than its
// whole encoding, else whole; older held live only is kept whole
// (compressed) when it must be or newer has no JSON form. It works
// outside the store's lock (kept sessions and encodings never change) and
// takes the lock to store the result, unless older's SessionAfter changed
// meanwhile, and newer's JSON in newest, for the next commit. A
// SessionAfter with no JSON form stays held live only.
func (s *Store) shrinkAfter(enc *encoder, older olderAfter, newer *domain.Session) {
	raw, err := older.json, error(nil)
	switch {
	case raw != nil: // the previous commit's newer JSON, never written to
	case older.live != nil:
		raw, err = older.live.AppendJSON(enc.older[:0])
		enc.older = raw
	default:
		raw, err = s2.Decode(enc.older[:cap(enc.older)], []byte(older.after))
		enc.older = raw
	}
	if err != nil {
		return
	}
	enc.delta = enc.delta[:0]
	var base []byte
	if !older.whole {
		if base, err = newer.AppendJSON(enc.newer[:0]); err == nil {
			enc.newer = base
			enc.delta = appendDelta(enc.delta, base, raw, &enc.index)
		}
	}
	kept, delta := enc.delta, true
	// A delta of more than a quarter of the JSON may well be bigger than
	// the JSON compressed; most are a few dozen bytes.
	if len(kept) == 0 || older.live != nil && len(kept) > len(raw)/4 {
		if whole := enc.compress(raw); len(kept) == 0 || len(whole) < len(kept) {
			kept, delta = whole, false
		}
	}
	shrunk := older.live != nil || delta && len(kept) < len(older.after)
	if !shrunk && base == nil {
		return // as small as it gets
	}
	after := ""
	if shrunk {
		after = string(kept)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The older turn's JSON, which it lets go here, holds the newer's
	// when it has room: a returning user's session grows by a few bytes a
	// turn, and its JSON is then copied into the same buffer turn after
	// turn instead of into a new one. Under the lock, once the older turn
	// no longer holds it: nothing else reads it then. A commit reads the
	// newest turn's and the one before's; the session's next one, which may
	// come first (this commit let the lease go), reads this commit's turn's,
	// never the older one's; pack only the newest turn's.
	spare := []byte(nil)
	if t := older.t; shrunk && t.after == older.after && t.liveAfter == older.live {
		t.after, t.delta, t.liveAfter, t.liveJSON = after, delta, nil, nil
		spare = older.json
	}
	if newest := older.newest; base != nil && newest.liveAfter == newer {
		if cap(spare) < len(base) {
			spare = nil
		}
		newest.liveJSON = append(spare[:0:cap(spare)], base...)
	}
}
