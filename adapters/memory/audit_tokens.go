package memory

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

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

// The explanation around the candidates, 300 bytes of a record, is
// member names of its own: each is written as tokName and its number
// here, the byte after it, which expandAudit turns back into the JSON.
// tokName is 0, which leads no record but a compressed one (see
// auditCompressed), whose first byte decodeAudit reads first.
const tokName = 0

const (
	nameExplanation   = iota // ,"explanation":{"retrieval":{"mode":
	nameDeferred             // ,"deferred":true
	nameContext              // ,"context":
	nameCandidates           // },"candidates":
	nameMatched              // ,"matched":
	nameScenario             // ,"scenario":{"action":
	nameBefore               // ,"before":
	nameAfter                // ,"after":
	nameRefID                // {"id":
	nameRefStep              // ,"step":
	nameOptions              // ,"options":
	nameToolCalls            // ,"tool_calls":
	nameGeneration           // ,"generation":{"source":
	nameTemplateID           // ,"template_id":
	nameModelCalls           // ,"model_calls":
	nameEnforcement          // },"enforcement":
	nameRules                // {"rules":
	nameViolations           // ,"violations":
	nameRegenerations        // ,"regenerations":
	nameFallback             // ,"fallback":
	nameRefused              // ,"refused":
)

// auditNames are the JSON each name stands for, by number.
var auditNames = [...]string{
	nameExplanation: `,"explanation":{"retrieval":{"mode":`, nameDeferred: `,"deferred":true`, nameContext: `,"context":`,
	nameCandidates: `},"candidates":`, nameMatched: `,"matched":`, nameScenario: `,"scenario":{"action":`, nameBefore: `,"before":`,
	nameAfter: `,"after":`, nameRefID: `{"id":`, nameRefStep: `,"step":`, nameOptions: `,"options":`, nameToolCalls: `,"tool_calls":`,
	nameGeneration: `,"generation":{"source":`, nameTemplateID: `,"template_id":`, nameModelCalls: `,"model_calls":`,
	nameEnforcement: `},"enforcement":`, nameRules: `{"rules":`, nameViolations: `,"violations":`,
	nameRegenerations: `,"regenerations":`, nameFallback: `,"fallback":`, nameRefused: `,"refused":`,
}

// tokTime follows tokCreatedAt when a time's Unix seconds and nanoseconds
// follow (see appendCreatedAt), where its text would start with a quote.
const tokTime = 0

// appendName appends name n (see auditNames).
func appendName(b []byte, n byte) []byte { return append(b, tokName, n) }

// pipelineSteps are the names of the steps the alignment pipeline times:
// a step timing of one of them is written as tokStep and its number here,
// of any other as tokStep and its name, a JSON string.
var pipelineSteps = [...]string{"policy", "embedding", "context", "matching", "variables", "scenario", "retrieval", "rule_judge", "tools", "generation"}

// The numbers are bytes a JSON string does not start with.
var _ ['"' - len(pipelineSteps)]struct{}

// appendStep appends tokStep and step, as its number when it is a
// pipeline step's name.
func appendStep(b []byte, step string) []byte {
	if i := stepNumber(step); i >= 0 {
		return append(b, tokStep, byte(i))
	}
	return domain.AppendJSONString(append(b, tokStep), step)
}

// stepNumber returns the number of the pipeline step named step, -1 for
// any other name: by a switch, which compares lengths first, where a
// search of pipelineSteps compared up to ten strings a timing.
func stepNumber(step string) int {
	switch step {
	case "policy":
		return 0
	case "embedding":
		return 1
	case "context":
		return 2
	case "matching":
		return 3
	case "variables":
		return 4
	case "scenario":
		return 5
	case "retrieval":
		return 6
	case "rule_judge":
		return 7
	case "tools":
		return 8
	case "generation":
		return 9
	}
	return -1
}

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
	x := expansion{dst: dst, src: src, kept: kept}
	for x.at < len(src) {
		start := x.at
		for x.at < len(src) && src[x.at] >= ' ' {
			x.at++
		}
		x.dst = append(x.dst, src[start:x.at]...)
		if x.at == len(src) {
			break
		}
		tok := src[x.at]
		x.at++
		if err := x.token(tok); err != nil {
			return nil, err
		}
	}
	return x.dst, nil
}

// expansion is expandAudit's work: what it appended, the record, how far
// it read, and where the last score's text lies in dst.
type expansion struct {
	dst, src []byte
	kept     *keptStrings
	at       int
	score    [2]int
}

// token appends what tok, just read, and what follows it stand for.
func (x *expansion) token(tok byte) error {
	if tok == tokName {
		if x.at == len(x.src) || int(x.src[x.at]) >= len(auditNames) {
			return errBadAudit
		}
		x.dst = append(x.dst, auditNames[x.src[x.at]]...)
		x.at++
		return nil
	}
	if int(tok) >= len(auditTokens) {
		return errBadAudit
	}
	x.dst = append(x.dst, auditTokens[tok]...)
	switch {
	case keptTokens>>tok&1 != 0:
		x.dst = domain.AppendJSONString(x.dst, x.kept[tok])
	case tok == tokStep && x.at < len(x.src) && x.src[x.at] != '"':
		if int(x.src[x.at]) >= len(pipelineSteps) {
			return errBadAudit
		}
		x.dst = domain.AppendJSONString(x.dst, pipelineSteps[x.src[x.at]])
		x.at++
	case tok == tokLexicalSame:
		x.dst = append(x.dst, x.dst[x.score[0]:x.score[1]]...)
	case tok == tokScore || tok == tokLexical || tok == tokSemantic:
		return x.float(tok)
	case tok == tokCreatedAt && x.at < len(x.src) && x.src[x.at] == tokTime:
		return x.time()
	}
	return nil
}

// time appends the time whose Unix seconds and nanoseconds follow tokTime
// (see appendCreatedAt), in UTC.
func (x *expansion) time() error {
	if len(x.src)-x.at < 13 {
		return errBadAudit
	}
	le := binary.LittleEndian
	t := time.Unix(int64(le.Uint64(x.src[x.at+1:])), int64(le.Uint32(x.src[x.at+9:]))).UTC()
	x.at += 13
	var err error
	x.dst, err = appendTime(x.dst, t)
	return err
}

// float appends the score whose bits follow tok.
func (x *expansion) float(tok byte) error {
	if len(x.src)-x.at < 8 {
		return errBadAudit
	}
	at := len(x.dst)
	var err error
	if x.dst, err = appendFloat(x.dst, math.Float64frombits(binary.LittleEndian.Uint64(x.src[x.at:]))); err != nil {
		return err
	}
	x.at += 8
	if tok == tokScore {
		x.score = [2]int{at, len(x.dst)}
	}
	return nil
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
