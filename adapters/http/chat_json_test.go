package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

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
		require.Equal(t, want.Header(), got.Header())
		require.Equal(t, want.Body.String(), got.Body.String())
	}
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
