package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/domain"
)

// chatResultTexts are strings encoding/json escapes in every way it has.
var chatResultTexts = []string{
	"", "plain reply", `quote " and backslash \`, "<b>bold</b> & more", "line\nbreak\r\ttab\b\f",
	"\x00\x01\x1f\x7f", "Grüße, 你好, 🙂", "\u2028line\u2029para", "bad \xff\xfe utf-8 \xc3", "\xe2\x80",
}

// The chat reply is written byte for byte as c.JSON wrote it: the same
// body (field order, escaping, nulls) and the same Content-Type.
func TestChatResultIsWrittenAsGinsJSONWouldWriteIt(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	results := []*application.ChatResult{
		{MatchedRules: []string{}, ToolsCalled: []string{}},
		{Response: "Hello <there> & welcome", SessionID: "s1", TurnID: "t1", Scenario: &domain.ScenarioRef{ID: "returns", Step: "ask"},
			MatchedRules: []string{"greet", "r\"2"}, ToolsCalled: []string{"lookup"}, TokensUsed: 560, LatencyMS: -3},
	}
	for _, text := range chatResultTexts {
		results = append(results, &application.ChatResult{Response: text, SessionID: text, TurnID: text,
			Scenario: &domain.ScenarioRef{ID: text, Step: text}, MatchedRules: []string{text, text}, ToolsCalled: []string{text}})
	}
	for _, res := range results {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		cw, _ := gin.CreateTestContext(want)
		cw.JSON(http.StatusOK, res)
		cg, _ := gin.CreateTestContext(got)
		writeChatResult(cg, res)
		require.Equal(t, want.Code, got.Code)
		// A recorder stamps no Date, which net/http does (see
		// TestChatResultHeadersAreNetHTTPs).
		requireHTTPDate(t, got.Header().Values("Date"))
		got.Header().Del("Date")
		require.Equal(t, want.Header(), got.Header())
		require.Equal(t, want.Body.String(), got.Body.String())
	}
}

// requireHTTPDate checks that a response has one Date, of now.
func requireHTTPDate(t *testing.T, values []string) {
	t.Helper()
	require.Len(t, values, 1)
	at, err := time.Parse(http.TimeFormat, values[0])
	require.NoError(t, err, "Date is in http.TimeFormat")
	require.WithinDuration(t, time.Now(), at, 2*time.Second)
}

// Over a connection a chat reply has the headers c.JSON's reply has, Date
// (which net/http stamps on c.JSON's) included, once, in its format.
func TestChatResultHeadersAreNetHTTPs(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	res := &application.ChatResult{Response: "hi", SessionID: "s1", TurnID: "t1", MatchedRules: []string{}, ToolsCalled: []string{}}
	r := gin.New()
	r.GET("/json", func(c *gin.Context) { c.JSON(http.StatusOK, res) })
	r.GET("/chat", func(c *gin.Context) { writeChatResult(c, res) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(path string) (http.Header, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		requireHTTPDate(t, resp.Header.Values("Date"))
		resp.Header.Del("Date")
		return resp.Header, string(body)
	}
	wantHeader, wantBody := get("/json")
	gotHeader, gotBody := get("/chat")
	require.Equal(t, wantHeader, gotHeader)
	require.Equal(t, wantBody, gotBody)
}

// The Date of a second is formatted once and shared, never appended to.
func TestDateNowIsSharedWithinASecond(t *testing.T) {
	a := dateNow()
	b := dateNow()
	if a[0] == b[0] { // unless the second turned in between
		require.Same(t, &a[0], &b[0])
	}
	require.Equal(t, 1, cap(a), "an append makes a copy")
	requireHTTPDate(t, a)
}

// BenchmarkDateHeader is the Date of a reply as net/http formats it and as
// dateNow gives it.
func BenchmarkDateHeader(b *testing.B) {
	b.Run("net/http", func(b *testing.B) {
		var buf [29]byte
		for b.Loop() {
			_ = time.Now().UTC().AppendFormat(buf[:0], http.TimeFormat)
		}
	})
	b.Run("dateNow", func(b *testing.B) {
		for b.Loop() {
			_ = dateNow()
		}
	})
}

// Any string, valid UTF-8 or not, is quoted as encoding/json quotes it.
func FuzzChatResultString(f *testing.F) {
	for _, s := range chatResultTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q quoted as %s, encoding/json writes %s", s, got, want)
		}
	})
}

// Every byte, alone and inside ASCII text, is quoted as encoding/json
// quotes it: the escaping table covers all 256 bytes.
func TestChatResultStringQuotesEveryByteLikeEncodingJSON(t *testing.T) {
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "ab" + string([]byte{byte(c)}) + "cd"} {
			want, err := json.Marshal(s)
			require.NoError(t, err)
			require.Equal(t, string(want), string(appendJSONString(nil, s)), "byte %#x", c)
		}
	}
}

// BenchmarkChatReplyOverHTTP is one chat reply written and read over a
// kept-alive connection: writeChatResult and net/http's response writing.
func BenchmarkChatReplyOverHTTP(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	res := &application.ChatResult{Response: "hi", SessionID: "s1", TurnID: "t1", MatchedRules: []string{}, ToolsCalled: []string{}}
	r := gin.New()
	r.GET("/chat", func(c *gin.Context) { writeChatResult(c, res) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	client := srv.Client()
	for b.Loop() {
		resp, err := client.Get(srv.URL + "/chat")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}
