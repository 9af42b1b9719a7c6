package memory

import (
	"bytes"
	"math"
	"strconv"

	"focal/domain"
)

// An audit record is mostly its explanation's scored candidates (20 of
// them, 3 KB of a 100-rule turn's 4.5), and encoding/json spends most of a
// commit's instructions reflecting over them. So encodeAudit writes the
// candidates itself and leaves the rest of the record to encoding/json:
// the bytes are json.Marshal's (TestAuditJSONIsMarshal holds them to it,
// and fails when domain.RuleCandidate gains a field this file does not
// write).

// candidatesNull is where the candidates go in the JSON of a record
// encoded without them. No field before the explanation is an object or
// holds a quote unescaped, so its first occurrence is the explanation's.
var candidatesNull = []byte(`"candidates":null`)

// encodeAudit returns rec encoded as encode does, valid until the next
// encode or compress.
func (e *encoder) encodeAudit(rec *domain.Turn) ([]byte, error) {
	candidates := rec.Explanation.Candidates
	if len(candidates) == 0 {
		return e.encode(rec)
	}
	spliced, ok := appendCandidates(e.candidates[:0], candidates)
	if !ok {
		return e.encode(rec) // a score with no JSON form: as json.Marshal fails
	}
	e.candidates = spliced
	withoutThem := *rec
	withoutThem.Explanation.Candidates = nil
	e.json.Reset()
	if err := e.to.Encode(&withoutThem); err != nil {
		return nil, err
	}
	raw := bytes.TrimSuffix(e.json.Bytes(), []byte("\n"))
	at := bytes.Index(raw, candidatesNull)
	if at < 0 {
		return e.encode(rec)
	}
	at += len(candidatesNull) - len("null")
	out := append(e.audit[:0], raw[:at]...)
	out = append(out, spliced...)
	out = append(out, raw[at+len("null"):]...)
	e.audit = out
	return e.compress(out), nil
}

// appendCandidates appends the JSON array json.Marshal makes of
// candidates; ok is false when a score has no JSON form.
func appendCandidates(b []byte, candidates []domain.RuleCandidate) (_ []byte, ok bool) {
	for i := range candidates {
		c := &candidates[i]
		b = append(b, "[,"[min(i, 1)])
		b = domain.AppendJSONString(append(b, `{"rule_id":`...), c.RuleID)
		b = append(b, `,"score":`...)
		score := len(b)
		if b, ok = appendJSONFloat(b, c.Score); !ok {
			return nil, false
		}
		b = append(b, `,"lexical":`...)
		if math.Float64bits(c.Lexical) == math.Float64bits(c.Score) {
			// The commonest case (no semantic score), and formatting a
			// float is most of what a candidate costs.
			b = append(b, b[score:len(b)-len(`,"lexical":`)]...)
		} else if b, ok = appendJSONFloat(b, c.Lexical); !ok {
			return nil, false
		}
		if c.Semantic != 0 {
			if b, ok = appendJSONFloat(append(b, `,"semantic":`...), c.Semantic); !ok {
				return nil, false
			}
		}
		if c.Example != "" {
			b = domain.AppendJSONString(append(b, `,"nearest_example":`...), c.Example)
		}
		if len(c.Terms) > 0 {
			b = append(b, `,"terms":`...)
			for j, term := range c.Terms {
				b = domain.AppendJSONString(append(b, "[,"[min(j, 1)]), term)
			}
			b = append(b, ']')
		}
		b = strconv.AppendInt(append(b, `,"priority":`...), int64(c.Priority), 10)
		b = strconv.AppendBool(append(b, `,"matched":`...), c.Matched)
		b = append(b, '}')
	}
	return append(b, ']'), true
}

// appendJSONFloat appends f as encoding/json writes a float64; ok is false
// for NaN and infinities, which it refuses.
func appendJSONFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		// e-07 is written e-7.
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, true
}
