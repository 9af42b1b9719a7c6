package memory

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"

	"github.com/klauspost/compress/s2"

	"focal/domain"
)

// Most of an audit record's bytes are its candidates, 20 of them in a
// 100-rule turn, each the same five member names around a rule id and two
// scores of 17 digits or so; and formatting those scores, then
// compressing what that wrote, was most of what a commit spent on the
// record. So appendTurn writes a candidate's (and an option's, a match's,
// a step timing's, and the turn's own) member names as one token byte
// each, and a score as a token and its eight bytes, which expandAudit
// turns back into the JSON, formatting the score as appendFloat always
// did: the same bytes on the rare read, and at every commit fewer to
// write and none to compress (see encodeAudit). A token is a byte below
// the space, which JSON as json.Marshal writes it never holds (it escapes
// them in strings), but within a score's eight bytes, which expandAudit
// skips. TestAuditJSONIsMarshal and TestTokenedAuditIsMarshal hold the
// expanded record to json.Marshal.
const (
	tokRuleID       = 1 + iota // {"rule_id":
	tokScore                   // ,"score": and a float's 8 bytes
	tokLexicalSame             // ,"lexical": and the score before, again
	tokLexical                 // ,"lexical": and a float's 8 bytes
	tokSemantic                // ,"semantic": and a float's 8 bytes
	tokExample                 // ,"nearest_example":
	tokTerms                   // ,"terms":
	tokPriority                // ,"priority":
	tokUnmatched               // ,"matched":false}
	tokMatched                 // ,"matched":true}
	tokMove                    // {"move":
	tokTarget                  // ,"target":
	tokReason                  // ,"reason":
	tokStep                    // {"step":
	tokDuration                // ,"duration_ms":
	tokID                      // {"id": and the turn's id (see keptStrings)
	tokTenantID                // ,"tenant_id": and its session's tenant
	tokAgentID                 // ,"agent_id":
	tokAgentVersion            // ,"agent_version":
	tokSessionID               // ,"session_id": and its session's id
	tokTurnNumber              // ,"turn_number":
	tokRequestID               // ,"request_id":
	tokMessage                 // ,"message": and the turn's message
	tokResponse                // ,"response": and the turn's response
	tokStatus                  // ,"status": and the turn's status
	tokUsage                   // ,"usage":{"prompt_tokens":
	tokCompletion              // ,"completion_tokens":
	tokTimings                 // ,"timings":
	tokLatency                 // ,"latency_ms":
	tokCreatedAt               // ,"created_at":
	tokSessionAgent            // ,"agent_id": and its session's agent
)

// auditTokens are the JSON each token stands for, by token.
var auditTokens = [...]string{
	tokRuleID: `{"rule_id":`, tokScore: `,"score":`, tokLexicalSame: `,"lexical":`, tokLexical: `,"lexical":`,
	tokSemantic: `,"semantic":`, tokExample: `,"nearest_example":`, tokTerms: `,"terms":`, tokPriority: `,"priority":`,
	tokUnmatched: `,"matched":false}`, tokMatched: `,"matched":true}`, tokMove: `{"move":`, tokTarget: `,"target":`,
	tokReason: `,"reason":`, tokStep: `{"step":`, tokDuration: `,"duration_ms":`,
	tokID: `{"id":`, tokTenantID: `,"tenant_id":`, tokAgentID: `,"agent_id":`, tokAgentVersion: `,"agent_version":`,
	tokSessionID: `,"session_id":`, tokTurnNumber: `,"turn_number":`, tokRequestID: `,"request_id":`, tokMessage: `,"message":`,
	tokResponse: `,"response":`, tokStatus: `,"status":`, tokUsage: `,"usage":{"prompt_tokens":`,
	tokCompletion: `,"completion_tokens":`, tokTimings: `,"timings":`, tokLatency: `,"latency_ms":`, tokCreatedAt: `,"created_at":`,
	tokSessionAgent: `,"agent_id":`,
}

// The tokens are bytes below the space.
var _ [' ' - len(auditTokens)]struct{}

var errBadAudit = errors.New("a kept audit record does not expand")

// A store keeps a turn's id, message, response and status in the turn's
// text before its audit record (the prompt's history reads them there),
// and its tenant, session id and, as a rule, agent in its session's
// entry: the record holds each as a token alone, which expandAudit
// follows with the string as json.Marshal quotes it. They were 230 bytes
// of a 1.4 KB record, kept for the life of every turn.
//
// keptStrings are those strings, by token; keptTokens has the bit of each
// of those tokens set.
type keptStrings [len(auditTokens)]string

const keptTokens = 1<<tokID | 1<<tokTenantID | 1<<tokSessionAgent | 1<<tokSessionID | 1<<tokMessage | 1<<tokResponse | 1<<tokStatus

// appendFloatToken appends tok and f's bits, for expandAudit to format f
// as appendFloat does; it fails where appendFloat fails.
func appendFloatToken(b []byte, tok byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errNoJSONForm
	}
	return binary.LittleEndian.AppendUint64(append(b, tok), math.Float64bits(f)), nil
}

// expandAudit appends to dst the JSON that src, as appendTurn wrote it,
// stands for: src itself but for its tokens, kept those of the turn the
// record is.
func expandAudit(dst, src []byte, kept *keptStrings) ([]byte, error) {
	var score [2]int // where the last score's text lies in dst
	for i := 0; i < len(src); {
		start := i
		for i < len(src) && src[i] >= ' ' {
			i++
		}
		dst = append(dst, src[start:i]...)
		if i == len(src) {
			break
		}
		tok := src[i]
		i++
		if tok == 0 || int(tok) >= len(auditTokens) {
			return nil, errBadAudit
		}
		dst = append(dst, auditTokens[tok]...)
		if keptTokens>>tok&1 != 0 {
			dst = domain.AppendJSONString(dst, kept[tok])
			continue
		}
		switch tok {
		case tokLexicalSame:
			dst = append(dst, dst[score[0]:score[1]]...)
		case tokScore, tokLexical, tokSemantic:
			if len(src)-i < 8 {
				return nil, errBadAudit
			}
			at := len(dst)
			var err error
			if dst, err = appendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(src[i:]))); err != nil {
				return nil, err
			}
			i += 8
			if tok == tokScore {
				score = [2]int{at, len(dst)}
			}
		}
	}
	return dst, nil
}

// decodeAudit reads into v the audit record encodeAudit made of the turn
// whose strings kept holds.
func decodeAudit(b []byte, kept *keptStrings, v any) error {
	if len(b) > 0 && b[0] == auditCompressed {
		raw, err := s2.Decode(nil, b[1:])
		if err != nil {
			return err
		}
		b = raw
	}
	raw, err := expandAudit(make([]byte, 0, 2*len(b)), b, kept)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
