package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// chatBodies are chat bodies of every shape: the common one, and each way
// a body can differ from it or be wrong.
var chatBodies = []string{
	`{"agent_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","channel":"webchat","user_channel_id":"u","message":"hi"}`,
	" \t\r\n{ \"message\" : \"hi\" , \"channel\":\"web\" } \n",
	`{}`, `{ }`, ``, ` `, `[]`, `null`, `"hi"`, `{} {}`, `{}x`, `{`, `{"message"`, `{"message":`, `{"message":"hi"`,
	`{"message":"hi",}`, `{,"message":"hi"}`, `{"message" "hi"}`,
	`{"message":"say \"hi\"\n\u00e9\ud83d\ude00 \/ \\"}`, `{"message":"lone \ud800 surrogate"}`, `{"message":"bad \x escape"}`,
	`{"message":"ends in a backslash\`, "{\"message\":\"tab\tin string\"}", "{\"message\":\"caf\xc3\xa9\"}", "{\"message\":\"\xff\"}",
	`{"message":"first","message":"second"}`, `{"Message":"case"}`, `{"MESSAGE":"case"}`, `{"unknown":"x"}`,
	`{"m\u0065ssage":"escaped key"}`, `{"message":null}`, `{"message":42}`, `{"message":["a"]}`,
	`{"metadata":{"plan":"pro","n":1}}`, `{"metadata":null,"message":"hi"}`, `{"session_id":"","tenant_id":"T"}`,
}

// decodeStrictly is how every chat body was read before the fast path.
func decodeStrictly(body string) (ChatRequest, error) {
	var req ChatRequest
	err := decodeJSONBytes([]byte(body), &req)
	return req, err
}

// decodeChatRequest reads every body as the strict decoder does: the same
// request from a good one, the same error for a bad one.
func TestChatBodiesAreReadAsTheStrictDecoderReadsThem(t *testing.T) {
	for _, body := range chatBodies {
		wantReq, wantErr := decodeStrictly(body)
		r := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader([]byte(body)))
		var got ChatRequest
		err := decodeChatRequest(r, &got)
		require.Equal(t, wantErr, err, "body %q", body)
		if wantErr == nil {
			require.Equal(t, wantReq, got, "body %q", body)
		}
	}
}

// A body over the limit is PAYLOAD_TOO_LARGE, as decodeJSON says.
func TestAChatBodyOverTheLimitIsTooLarge(t *testing.T) {
	body := chatBodies[0]
	r := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader([]byte(body)))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 16)
	var got ChatRequest
	err := decodeChatRequest(r, &got)
	r2 := httptest.NewRequest(http.MethodPost, "/v1/chat", bytes.NewReader([]byte(body)))
	r2.Body = http.MaxBytesReader(httptest.NewRecorder(), r2.Body, 16)
	_, want := decodeJSON(r2, &ChatRequest{})
	require.Error(t, err)
	require.Equal(t, want, err)
}

// Whatever the body, the fast path reads only what the strict decoder
// reads, and reads it the same.
func FuzzChatFieldsMatchTheStrictDecoder(f *testing.F) {
	for _, body := range chatBodies {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var fast ChatRequest
		if !decodeChatFields(body, &fast) {
			return
		}
		strict, err := decodeStrictly(body)
		if err != nil {
			t.Fatalf("fast path took %q, which the strict decoder refuses: %v", body, err)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("%q read as %+v, strictly %+v", body, fast, strict)
		}
	})
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	*bytes.Reader
	closed int
}

func (b *closeCounter) Close() error { b.closed++; return nil }

// A chat body read to its end is closed there, good or bad, so net/http
// has nothing to drain before the reply (closeReadBody).
func TestAChatBodyReadToItsEndIsClosed(t *testing.T) {
	for _, body := range []string{chatBodies[0], `{"message":42}`} {
		b := &closeCounter{Reader: bytes.NewReader([]byte(body))}
		r := httptest.NewRequest(http.MethodPost, "/v1/chat", b)
		var got ChatRequest
		_ = decodeChatRequest(r, &got)
		require.Equal(t, 1, b.closed, "body %q", body)
	}
}
