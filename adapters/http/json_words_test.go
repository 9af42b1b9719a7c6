//go:build !race

// The JSON word tests' equivalence tests: each compares a fast path (the
// word-at-a-time byte tests, the string quoter, the chat body reader,
// lowerID) with its plain reference over tens of thousands of inputs,
// sequential work the race detector slows fourfold (13 s under it, 3 s
// without) and has nothing to find in. They build without it; make
// test runs them in a pass without -race (scripts/test.sh). The fast
// paths run under -race in the package's other tests.

package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// skipByBytes is what skipJSONSafe and skipJSONPlain find, byte by byte:
// the first byte at or after i in a whole word of s that is not ok.
func skipByBytes(s string, i int, ok *[256]bool) int {
	for ; i+8 <= len(s); i += 8 {
		for j := i; j < i+8; j++ {
			if !ok[s[j]] {
				return j
			}
		}
	}
	return i
}

// requireSkipsAsBytes checks both word tests on s from every start.
func requireSkipsAsBytes(t *testing.T, s string) {
	t.Helper()
	for i := 0; i <= len(s); i++ {
		require.Equal(t, skipByBytes(s, i, &jsonSafeASCII), skipJSONSafe(s, i), "skipJSONSafe(%q, %d)", s, i)
		require.Equal(t, skipByBytes(s, i, &jsonPlain), skipJSONPlain(s, i), "skipJSONPlain(%q, %d)", s, i)
	}
}

// Each byte value, at each place of a word, among plain letters and among
// other bytes of every kind, is found where the byte loops find it.
func TestWordTestsFindEveryByteAsTheByteLoopsDo(t *testing.T) {
	fillers := []string{"abcdefgh", "\x00\x00\x00\x00\x00\x00\x00\x00", "\xff\xff\xff\xff\xff\xff\xff\xff", `""""""""`,
		"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", "\x80\x80\x80\x80\x80\x80\x80\x80", "<><><><>", `\\\\\\\\`, "        "}
	for _, filler := range fillers {
		for c := range 256 {
			for at := range 16 {
				b := []byte(filler + filler)
				b[at] = byte(c)
				requireSkipsAsBytes(t, string(b))
			}
		}
	}
}

// jsonTestBytes are the bytes generated strings are made of: each kind a
// JSON encoder or decoder treats apart, UTF-8 whole and broken, and plain
// letters often enough for runs of them.
var jsonTestBytes = []string{"a", "b", "Z", "0", " ", "~", "\x7f", `"`, `\`, "/", "<", ">", "&", "'", "\x00", "\x1f", "\n", "\t",
	"é", "你", "🙂", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "\x80", "\\u00e9", `\"`, `\n`, "\\ud83d\\ude00", "\\ud800", `\x`,
	"plain words ", "abcdefghijklmnop", "qrstuvwxyz012345"}

// jsonCleanBytes are the pieces of jsonTestBytes that are valid in a JSON
// string as they are: no control character, no broken UTF-8 or escape.
var jsonCleanBytes = []string{"a", "b", "Z", "0", " ", "~", "\x7f", "/", "<", ">", "&", "'", "é", "你", "🙂", "\u2028",
	"\\u00e9", `\"`, `\n`, "\\ud83d\\ude00", "plain words ", "abcdefghijklmnop", "qrstuvwxyz012345"}

// randomJSONText is a string of n pieces of pieces.
func randomJSONText(r *rand.Rand, n int, pieces []string) string {
	var b strings.Builder
	for range n {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// Generated strings of every length are found and quoted as the byte
// loops and encoding/json find and quote them.
func TestGeneratedStringsAreQuotedAsEncodingJSONQuotesThem(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		s := randomJSONText(r, r.IntN(24), jsonTestBytes)
		requireSkipsAsBytes(t, s)
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)), "%q", s)
	}
}

// randomChatBody is a chat body, well formed or not: members of each
// kind in a random order, with generated values, then perhaps cut short or
// with a byte changed.
func randomChatBody(r *rand.Rand) string {
	names := []string{"agent_id", "channel", "user_channel_id", "message", "session_id", "tenant_id",
		"agent_id", "channel", "user_channel_id", "message", "Message", "unknown", "metadata"}
	var b strings.Builder
	b.WriteString([]string{"{", "{", " {", "{\n", "["}[r.IntN(5)])
	for k := range r.IntN(6) {
		if k > 0 {
			b.WriteString([]string{",", " , ", ",\n"}[r.IntN(3)])
		}
		b.WriteString(`"` + names[r.IntN(len(names))] + `"`)
		b.WriteString([]string{":", " : "}[r.IntN(2)])
		switch r.IntN(12) {
		case 0:
			b.WriteString([]string{"42", "null", `["a"]`, `{"plan":"pro"}`, "true"}[r.IntN(5)])
		case 1, 2, 3:
			b.WriteString(`"` + randomJSONText(r, r.IntN(12), jsonTestBytes) + `"`)
		default:
			b.WriteString(`"` + randomJSONText(r, r.IntN(12), jsonCleanBytes) + `"`)
		}
	}
	b.WriteString([]string{"}", "}", "}", " }\n", "} {}", "}x", ""}[r.IntN(7)])
	body := []byte(b.String())
	switch r.IntN(10) {
	case 0:
		body = body[:r.IntN(len(body)+1)]
	case 1:
		if len(body) > 0 {
			body[r.IntN(len(body))] = jsonTestBytes[r.IntN(len(jsonTestBytes))][0]
		}
	}
	return string(body)
}

// Generated chat bodies, good and bad, are read as the strict decoder
// reads them: the same request from a good one, the same error (its code,
// message and fields) from a bad one.
func TestGeneratedChatBodiesAreReadAsTheStrictDecoderReadsThem(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast, bad := 0, 0
	for range 20000 {
		body := randomChatBody(r)
		wantReq, wantErr := decodeStrictly(body)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader([]byte(body)))
		var got ChatRequest
		err := decodeChatRequest(req, &got)
		require.Equal(t, wantErr, err, "body %q", body)
		if wantErr == nil {
			require.Equal(t, wantReq, got, "body %q", body)
		} else {
			bad++
		}
		var probe ChatRequest
		if decodeChatFields(body, &probe) {
			fast++
		}
	}
	require.Greater(t, fast, 2000, "the fast path reads a good share of the bodies")
	require.Greater(t, bad, 4000, "a good share of the bodies are refused")
}

// lowerID lowers every id, of any length, case and script, as
// strings.ToLower does.
func TestLowerIDIsToLower(t *testing.T) {
	pieces := []string{"a", "f", "0", "-", "A", "F", "Z", "@", "[", "`", "{", "\x7f", "É", "é", "İ", "\xff", "6ba7b810", "9DAD"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		id := randomJSONText(r, r.IntN(16), pieces)
		require.Equal(t, strings.ToLower(id), lowerID(id), "%q", id)
	}
	for c := range 256 {
		for at := range 16 {
			b := []byte("6ba7b810-9dad-11d1")
			b[at] = byte(c)
			require.Equal(t, strings.ToLower(string(b)), lowerID(string(b)), "%q", b)
		}
	}
}
