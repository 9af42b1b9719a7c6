package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"unicode/utf8"
)

// bodyBuffers are the buffers chat bodies are read into; the body is kept
// as one string, which the request's fields share.
var bodyBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 1024)) }}

// maxPooledBody is the largest buffer kept for the next body.
const maxPooledBody = 64 << 10

// decodeChatRequest reads a chat body into req, as strictly as decodeJSON
// and with the same errors. The common body (an object of the request's
// string fields) is read by decodeChatFields, in one pass and with one
// allocation; any other, and every invalid one, goes through decodeJSON's
// own path, so what is accepted and what a bad body is told are unchanged.
func decodeChatRequest(r *http.Request, req *ChatRequest) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	body := buf.String()
	if buf.Cap() <= maxPooledBody {
		bodyBuffers.Put(buf)
	}
	if err != nil {
		return bodyReadError(err)
	}
	closeReadBody(r)
	if decodeChatFields(body, req) {
		return nil
	}
	// Decoded into a value of its own, which encoding/json takes as an
	// interface: req, not handed to it, stays in its caller's frame.
	var slow ChatRequest
	err = decodeJSONBytes([]byte(body), &slow)
	*req = slow
	return err
}

// closeReadBody closes a request body read to its end. net/http closes it
// itself after the handler, but a body left open when the reply's header
// goes out is drained first, to keep the connection for the next request:
// a reader and a copy made (an allocation) and the body's lock taken for a
// read that finds nothing. A body closed after its end is left as it is,
// and the connection kept all the same.
func closeReadBody(r *http.Request) { _ = r.Body.Close() }

// decodeChatFields reads body when it is a JSON object whose members all
// are string fields of ChatRequest named exactly (encoding/json would also
// take other spellings), and reports whether it did; it reads nothing it
// would read differently from encoding/json, and leaves every other body,
// valid or not, to it. Unescaped strings are slices of body.
func decodeChatFields(body string, req *ChatRequest) bool {
	if !utf8.ValidString(body) {
		return false
	}
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return skipJSONSpace(body, i+1) == len(body)
	}
	for {
		key, next, ok := scanJSONString(body, i)
		if !ok {
			return false
		}
		field := req.stringField(key)
		if i = skipJSONSpace(body, next); field == nil || i >= len(body) || body[i] != ':' {
			return false
		}
		if *field, next, ok = scanJSONString(body, skipJSONSpace(body, i+1)); !ok {
			return false
		}
		i = skipJSONSpace(body, next)
		switch {
		case i < len(body) && body[i] == ',':
			i = skipJSONSpace(body, i+1)
		case i < len(body) && body[i] == '}':
			return skipJSONSpace(body, i+1) == len(body)
		default:
			return false
		}
	}
}

// stringField is the string field a JSON member name exactly names, or nil.
func (r *ChatRequest) stringField(name string) *string {
	switch name {
	case "tenant_id":
		return &r.TenantID
	case "agent_id":
		return &r.AgentID
	case "channel":
		return &r.Channel
	case "user_channel_id":
		return &r.UserChannelID
	case "message":
		return &r.Message
	case "session_id":
		return &r.SessionID
	}
	return nil
}

// unquoteJSON is scanJSONString's answer for a string with escapes, which
// encoding/json unquotes. (Its own frame: the value unquoted into escapes
// to the heap, which for every string would cost an allocation.)
func unquoteJSON(quoted string, next int) (string, int, bool) {
	var value string
	if json.Unmarshal([]byte(quoted), &value) != nil {
		return "", 0, false
	}
	return value, next, true
}

// skipJSONSpace is the index of the first byte at or after i that is not
// JSON whitespace. Clients mostly send none: a byte past the space is
// told apart with one comparison.
func skipJSONSpace(s string, i int) int {
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// scanJSONString reads the JSON string starting at s[i]: its value and the
// index after its closing quote. Without escapes the value is a slice of
// s; with them, encoding/json unquotes it. A control character, a string
// cut off or anything that is not a string is not ok.
func scanJSONString(s string, i int) (value string, next int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	escaped := false
	for j := i + 1; j < len(s); j++ {
		// Up to the next quote, backslash or control character: eight
		// bytes at a time, then one at a time.
		for j = skipJSONPlain(s, j); j < len(s) && jsonPlain[s[j]]; j++ {
		}
		if j == len(s) {
			break
		}
		switch c := s[j]; {
		case c == '"':
			if !escaped {
				return s[i+1 : j], j + 1, true
			}
			return unquoteJSON(s[i:j+1], j+1)
		case c == '\\':
			escaped = true
			j++ // the escaped byte, which may be a quote
		default: // a control character
			return "", 0, false
		}
	}
	return "", 0, false
}

// jsonPlain is, by byte, whether it neither ends, escapes nor breaks a
// JSON string: all but the quote, the backslash and control characters.
var jsonPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()
