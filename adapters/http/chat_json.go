package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"focal/application"
)

// jsonContentType is what gin's c.JSON declares; a response written here
// declares the same.
var jsonContentType = []string{"application/json; charset=utf-8"}

// chatJSONBuffers are the buffers chat replies are encoded into: a reply is
// written to the connection (which copies it) before its buffer goes back.
var chatJSONBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// dateHeader is the Date header's value during one second.
type dateHeader struct {
	second int64
	value  []string
}

// currentDate is the Date header of the second last asked for.
var currentDate atomic.Pointer[dateHeader]

// dateNow is the Date header net/http would stamp on a response now (the
// time in http.TimeFormat, to the second), formatted once a second rather
// than by net/http for every response, where formatting it cost about a
// microsecond, more than anything else in writing a chat reply. The value
// list is shared by the responses of that second: its length and capacity
// are 1, so nothing appends to it in place, and net/http only reads it.
func dateNow() []string { return dateAt(time.Now()) }

// dateAt is dateNow at now, a reading of the clock the caller uses too.
func dateAt(now time.Time) []string {
	if d := currentDate.Load(); d != nil && d.second == now.Unix() {
		return d.value
	}
	d := &dateHeader{second: now.Unix(), value: []string{now.UTC().Format(http.TimeFormat)}}
	currentDate.Store(d)
	return d.value
}

// maxPooledChatJSON is the largest buffer kept for the next reply; a
// buffer grown by a long reply is left to the collector.
const maxPooledChatJSON = 64 << 10

// writeChatResult answers 200 with res as c.JSON(http.StatusOK, res) would, byte for
// byte (encoding/json's field order and escaping), without reflection: the
// reply of every turn is encoded here.
func writeChatResult(c *gin.Context, res *application.ChatResult) {
	bp := chatJSONBuffers.Get().(*[]byte)
	buf := appendChatResult((*bp)[:0], res)
	c.Status(http.StatusOK)
	h := c.Writer.Header()
	if len(h["Content-Type"]) == 0 {
		h["Content-Type"] = jsonContentType
	}
	// The Date and the write deadline are both counted from one reading of
	// the clock, which costs about 60 ns here.
	now := time.Now()
	if len(h["Date"]) == 0 {
		h["Date"] = dateAt(now)
	}
	if _, err := writeAt(c.Writer, buf, now); err != nil {
		_ = c.Error(err)
		c.Abort()
	}
	if cap(buf) <= maxPooledChatJSON {
		*bp = buf
		chatJSONBuffers.Put(bp)
	}
}

// appendChatResult appends res as encoding/json encodes it.
func appendChatResult(b []byte, res *application.ChatResult) []byte {
	b = append(b, `{"response":`...)
	b = appendJSONString(b, res.Response)
	b = append(b, `,"session_id":`...)
	b = appendJSONString(b, res.SessionID)
	b = append(b, `,"turn_id":`...)
	b = appendJSONString(b, res.TurnID)
	b = append(b, `,"scenario":`...)
	if s := res.Scenario; s == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"id":`...)
		b = appendJSONString(b, s.ID)
		b = append(b, `,"step":`...)
		b = appendJSONString(b, s.Step)
		b = append(b, '}')
	}
	b = append(b, `,"matched_rules":`...)
	b = appendJSONStrings(b, res.MatchedRules)
	b = append(b, `,"tools_called":`...)
	b = appendJSONStrings(b, res.ToolsCalled)
	b = append(b, `,"tokens_used":`...)
	b = strconv.AppendInt(b, int64(res.TokensUsed), 10)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendInt(b, res.LatencyMS, 10)
	return append(b, '}')
}

// appendJSONStrings appends a string slice; nil is null, as encoding/json
// writes it.
func appendJSONStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it with HTML
// escaping on (json.Marshal's default, which c.JSON uses): <, > and & as
// \u003c, \u003e and \u0026; control characters escaped (\b, \f, \n, \r
// and \t by name); invalid UTF-8 as \ufffd; U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most of a reply is ASCII written as itself: skipped eight bytes
		// at a time, then in a loop of one load and one test per byte.
		// (Text in a script past ASCII skips no words, and is not made to
		// try at each of its characters.)
		if s[i] < utf8.RuneSelf {
			i = skipJSONSafe(s, i)
		}
		for i < len(s) && jsonSafeASCII[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			b = appendJSONEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonSafe reports whether an ASCII byte is written as itself.
func jsonSafe(c byte) bool {
	return c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// jsonSafeASCII is jsonSafe by byte, false past ASCII: one load per byte
// of a reply rather than six comparisons.
var jsonSafeASCII = func() (t [256]bool) {
	for c := range utf8.RuneSelf {
		t[c] = jsonSafe(byte(c))
	}
	return t
}()

// appendJSONEscape appends the escape of an ASCII byte that is not safe.
func appendJSONEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
