package fakellm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/test/fakellm"
)

func start(t *testing.T, opts ...fakellm.Option) (*fakellm.Server, string) {
	t.Helper()
	srv := fakellm.New(opts...)
	url := srv.Start()
	t.Cleanup(srv.Close)
	return srv, url
}

func openAIBody(stream, includeUsage bool, user string) map[string]any {
	b := map[string]any{
		"model": "gpt-test",
		"messages": []map[string]any{
			{"role": "system", "content": "be brief"},
			{"role": "user", "content": user},
		},
	}
	if stream {
		b["stream"] = true
	}
	if includeUsage {
		b["stream_options"] = map[string]any{"include_usage": true}
	}
	return b
}

func anthropicBody(stream bool, user string) map[string]any {
	b := map[string]any{
		"model":      "claude-test",
		"max_tokens": 256,
		"system":     "be brief",
		"messages": []map[string]any{
			{"role": "user", "content": []map[string]any{{"type": "text", "text": user}}},
		},
	}
	if stream {
		b["stream"] = true
	}
	return b
}

func post(t *testing.T, ctx context.Context, url string, body any) *http.Response {
	t.Helper()
	data, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

type sseEvent struct {
	Name string
	Data string
	At   time.Time
}

// readSSE parses a text/event-stream body strictly: only event/data lines
// and blank separators are allowed. It returns the events read before any
// transport error.
func readSSE(r io.Reader) ([]sseEvent, error) { return readSSEWatching(r, nil) }

// readSSEWatching is readSSE that shows each event to each (when not nil)
// as it arrives, so a test can act at a point of the stream.
func readSSEWatching(r io.Reader, each func(sseEvent)) ([]sseEvent, error) {
	sc := bufio.NewScanner(r)
	var evs []sseEvent
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Data != "" {
				cur.At = time.Now()
				evs = append(evs, cur)
				if each != nil {
					each(cur)
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.Data = strings.TrimPrefix(line, "data: ")
		default:
			return evs, fmt.Errorf("unexpected SSE line %q", line)
		}
	}
	return evs, sc.Err()
}

// jsonEvents decodes every event but OpenAI's [DONE] sentinel.
func jsonEvents(t *testing.T, evs []sseEvent) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range evs {
		if ev.Data == "[DONE]" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &m), "data: %s", ev.Data)
		out = append(out, m)
	}
	return out
}

// openAIDeltas returns the content of every chunk that carries content.
func openAIDeltas(chunks []map[string]any) []string {
	var out []string
	for _, c := range chunks {
		choices, _ := c["choices"].([]any)
		if len(choices) == 0 {
			continue
		}
		delta, _ := choices[0].(map[string]any)["delta"].(map[string]any)
		if s, ok := delta["content"].(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// anthropicDeltas returns the text of every text_delta event.
func anthropicDeltas(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		if e["type"] != "content_block_delta" {
			continue
		}
		out = append(out, e["delta"].(map[string]any)["text"].(string))
	}
	return out
}

func num(v any) int { f, _ := v.(float64); return int(f) }
