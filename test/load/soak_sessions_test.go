package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The soak reads every returning user's session across pages, leaves out
// new users' and sessions gone since, and reports the growth it read.
func TestSoakReadsHowReturningUsersSessionsGrew(t *testing.T) {
	rules := map[string]string{"s1": `{"a":{},"b":{}}`, "s2": `{"a":{}}`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/sessions" && r.URL.Query().Get("cursor") == "":
			fmt.Fprint(w, `{"items":[{"id":"n1","user_channel_id":"new-1"},{"id":"s1","user_channel_id":"ret-0"}],"next_cursor":"p 2"}`)
		case r.URL.Path == "/v1/sessions" && r.URL.Query().Get("cursor") == "p 2":
			fmt.Fprint(w, `{"items":[{"id":"s2","user_channel_id":"ret-1"},{"id":"s3","user_channel_id":"ret-2"}],"next_cursor":null}`)
		case r.URL.Path == "/v1/sessions/s3":
			w.WriteHeader(http.StatusNotFound)
		default:
			id := r.URL.Path[len("/v1/sessions/"):]
			fmt.Fprintf(w, `{"id":%q,"turn_count":10,"rule_fires":%s}`, id, rules[id])
		}
	}))
	defer srv.Close()
	c := newChatClient(srv.URL, "t")

	atEnd, err := readSessionGrowth(c)
	require.NoError(t, err)
	rules["s1"], rules["s2"] = `{"a":{},"b":{},"c":{},"d":{}}`, `{"a":{},"b":{}}`
	g := atEnd()
	require.NotNil(t, g)
	assert.Equal(t, 2, g.readBefore)
	assert.Equal(t, 2, g.readAtEnd)
	assert.InDelta(t, 1.5, g.rulesBefore, 1e-9)
	assert.InDelta(t, 3.0, g.rulesEnd, 1e-9)
	assert.Greater(t, g.bytesEnd, g.bytesBefore)
	assert.Contains(t, g.String(), "1.50 rules in rule_fires")
	assert.Contains(t, g.String(), "3.00 rules")
	assert.Empty(t, (*sessionGrowth)(nil).String(), "sessions not read: nothing said")
}
