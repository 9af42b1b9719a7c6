package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/gin-contrib/sse"

	"focal/application"
	"focal/domain"
)

// Whatever a client sends, decoding and validation answer with a 4xx
// error or a valid command; they never panic.
func FuzzDecodeChatRequest(f *testing.F) {
	f.Add([]byte(`{"agent_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","channel":"webchat","user_channel_id":"u","message":"hi"}`))
	f.Add([]byte(`{"message":"\u0000","metadata":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`{"agent_id":42}`))
	f.Add([]byte("{\"message\":\"\xff\"}"))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ChatRequest
		err := decodeJSONBytes(body, &req)
		if err == nil {
			cmd := application.ChatCommand{
				TenantID: "550e8400-e29b-41d4-a716-446655440000", BodyTenantID: req.TenantID, AgentID: req.AgentID,
				Channel: req.Channel, UserChannelID: req.UserChannelID, Message: req.Message, SessionID: req.SessionID,
				Metadata: req.Metadata,
			}
			err = cmd.Validate()
			if err == nil {
				if !utf8.ValidString(cmd.Message) || cmd.Message == "" {
					t.Fatalf("invalid message accepted: %q", cmd.Message)
				}
				return
			}
		}
		status := HTTPStatus(domain.ErrorCodeOf(err))
		if status < 400 || status > 499 {
			t.Fatalf("bad input answered %d (%v)", status, err)
		}
	})
}

// Any token text survives SSE framing: a standard parser reads back exactly
// the content that was sent, newlines and all.
func FuzzSSETokenEvent(f *testing.F) {
	f.Add("hello")
	f.Add("line one\nline two\r\n\n")
	f.Add("data: injected\n\nevent: done\n")
	f.Add("\x00\u2028 ")
	f.Fuzz(func(t *testing.T, content string) {
		if !utf8.ValidString(content) {
			return // model deltas are text; JSON would replace invalid bytes
		}
		var buf bytes.Buffer
		if err := sse.Encode(&buf, sse.Event{Id: "t:1", Event: "token", Data: tokenEvent{Type: "token", Content: content}}); err != nil {
			t.Fatal(err)
		}
		events, err := sse.Decode(&buf)
		if err != nil || len(events) != 1 {
			t.Fatalf("decoded %d events, err %v, from %q", len(events), err, buf.String())
		}
		if events[0].Event != "token" || events[0].Id != "t:1" {
			t.Fatalf("event %q id %q", events[0].Event, events[0].Id)
		}
		var got tokenEvent
		if err := json.Unmarshal([]byte(events[0].Data.(string)), &got); err != nil {
			t.Fatalf("data is not JSON: %v", err)
		}
		if got.Content != content {
			t.Fatalf("content %q came back as %q", content, got.Content)
		}
	})
}
