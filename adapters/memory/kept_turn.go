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
// is one small object and two pointer-free byte strings, never the tree of
// maps, slices and strings the application built (an explanation alone
// holds dozens of objects).
//
// A stored turn is written under the store's lock and, apart from after
// and liveAfter (see keepAfter), never changed: readers copy it under the
// lock and decode the copy outside it.
type storedTurn struct {
	// text holds, one after the other, what the prompt's history entry
	// needs (message, response, status, scenario id and step; ends says
	// where each ends) and then the audit record, SessionAfter left out,
	// as encoder.encode makes it: S2-compressed, the JSON that decode
	// always copied the record through.
	text string
	// after is SessionAfter as encoder.encode makes it. While the turn is
	// its session's newest, liveAfter is SessionAfter itself instead,
	// frozen: it is the session's current snapshot too, so it costs
	// nothing more to keep.
	// The next commit of the session encodes it (keepAfter).
	after     []byte
	liveAfter *domain.Session
	// record is the turn as handed over, kept only when it has no JSON
	// form (json.Marshal failed): its audit reads then fail as before.
	record *domain.Turn
	sess   *sessionEntry
	id     string
	// answers is the answered key of the keyed request this completed
	// turn answers, "" for any other turn.
	answers string
	number  int
	ends    [5]uint32
}

// keepTurn encodes what a store keeps of turn; the caller has not taken
// the store's lock, since turn is its own. SessionAfter is the caller's
// to set (liveAfter).
func keepTurn(turn *domain.Turn) *storedTurn {
	h := turn.History()
	parts := [5]string{h.Message, h.Response, string(h.Status), h.Scenario.ID, h.Scenario.Step}
	rec := *turn
	rec.SessionAfter = nil
	st := &storedTurn{id: turn.ID, number: turn.TurnNumber}
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	audit, err := enc.encode(&rec)
	if err != nil {
		st.record = turn
	}
	var text strings.Builder
	text.Grow(len(parts[0]) + len(parts[1]) + len(parts[2]) + len(parts[3]) + len(parts[4]) + len(audit))
	for i, p := range parts {
		text.WriteString(p)
		st.ends[i] = uint32(text.Len())
	}
	text.Write(audit)
	st.text = text.String()
	return st
}

// encoder turns a value into what a store keeps of it: its JSON form
// (json.Marshal's bytes), compressed with S2, which halves a turn's record
// for a few microseconds. Its buffers are reused from commit to commit.
type encoder struct {
	json       bytes.Buffer
	to         *json.Encoder // writes to json
	compressed []byte
}

// encoders are the encoders for keepTurn and keepAfter.
var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.to = json.NewEncoder(&e.json)
	return e
}}

// encode returns v encoded, valid until the next encode.
func (e *encoder) encode(v any) ([]byte, error) {
	e.json.Reset()
	// Encoder.Encode writes what json.Marshal returns, and a newline.
	if err := e.to.Encode(v); err != nil {
		return nil, err
	}
	raw := bytes.TrimSuffix(e.json.Bytes(), []byte("\n"))
	if n := s2.MaxEncodedLen(len(raw)); cap(e.compressed) < n {
		e.compressed = make([]byte, n)
	}
	return s2.Encode(e.compressed[:cap(e.compressed)], raw), nil
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
	e := t.ends
	return domain.HistoryEntry{
		TurnNumber: t.number,
		Message:    t.text[:e[0]],
		Response:   t.text[e[0]:e[1]],
		Status:     domain.TurnStatus(t.text[e[1]:e[2]]),
		Scenario:   domain.ScenarioRef{ID: t.text[e[2]:e[3]], Step: t.text[e[3]:e[4]]},
	}
}

// decode returns the kept turn, which the caller owns entirely: every map
// and slice is new (a field added to domain.Turn later is kept too, by its
// JSON form). t is a copy taken under the store's lock.
func (t storedTurn) decode() (domain.Turn, error) {
	var out domain.Turn
	var err error
	if t.record != nil {
		rec := *t.record
		rec.SessionAfter = nil
		out, err = cloneJSON(rec)
	} else {
		err = decodeKept([]byte(t.text[t.ends[4]:]), &out)
	}
	if err == nil {
		out.SessionAfter, err = t.sessionAfter()
	}
	if err != nil {
		return out, domain.WrapError(domain.CodeInternal, err, "a stored turn cannot be read")
	}
	return out, nil
}

func (t *storedTurn) sessionAfter() (*domain.Session, error) {
	if t.liveAfter != nil {
		return t.liveAfter.Clone(), nil
	}
	var s domain.Session
	if err := decodeKept(t.after, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// keepAfter replaces the live SessionAfter of a turn that is no longer
// its session's newest by its JSON form, when it has one. It encodes
// outside the store's lock (a frozen session never changes) and takes the
// lock to store the result.
func (s *Store) keepAfter(t *storedTurn, after *domain.Session) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	b, err := enc.encode(after)
	if err != nil {
		return // kept live, as before
	}
	b = bytes.Clone(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.liveAfter == after {
		t.after, t.liveAfter = b, nil
	}
}
