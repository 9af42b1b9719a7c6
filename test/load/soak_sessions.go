package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// sessionGrowth is what the soak's returning users' sessions hold, read
// through the API after seeding and again at the end: each kept turn
// holds its session as it was after the turn, so a session that grows is
// paid for in every turn kept of it.
type sessionGrowth struct {
	rulesBefore, rulesEnd float64 // mean entries in rule_fires
	bytesBefore, bytesEnd float64 // mean size of the session's JSON
	turnsBefore, turnsEnd float64 // mean turn count
	readBefore, readAtEnd int     // sessions read
}

// sessionSize is one session as the soak measures it.
type sessionSize struct {
	turns, rules, bytes int
}

// returningSessions pages through the tenant's sessions and answers the
// ids of the returning users' (user channel id ret-*).
func (c *chatClient) returningSessions() ([]string, error) {
	var ids []string
	cursor := ""
	for {
		path := "/v1/sessions?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		body, err := c.get(path)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items []struct {
				ID   string `json:"id"`
				User string `json:"user_channel_id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		for _, s := range page.Items {
			if strings.HasPrefix(s.User, "ret-") {
				ids = append(ids, s.ID)
			}
		}
		if page.NextCursor == nil {
			return ids, nil
		}
		cursor = *page.NextCursor
	}
}

// sessionSizes reads each session and answers what it holds; a session no
// longer there is left out.
func (c *chatClient) sessionSizes(ids []string) ([]sessionSize, error) {
	out := make([]sessionSize, 0, len(ids))
	for _, id := range ids {
		body, err := c.get("/v1/sessions/" + id)
		if err != nil {
			continue
		}
		var s struct {
			TurnCount int                        `json:"turn_count"`
			RuleFires map[string]json.RawMessage `json:"rule_fires"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, fmt.Errorf("session %s: %w", id, err)
		}
		out = append(out, sessionSize{turns: s.TurnCount, rules: len(s.RuleFires), bytes: len(body)})
	}
	return out, nil
}

// get answers the body of a 200 answer to GET path.
func (c *chatClient) get(path string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s answered %d", path, res.StatusCode)
	}
	return body, err
}

// means answers the mean turns, rules and bytes of sizes.
func means(sizes []sessionSize) (turns, rules, bytes float64) {
	if len(sizes) == 0 {
		return 0, 0, 0
	}
	for _, s := range sizes {
		turns, rules, bytes = turns+float64(s.turns), rules+float64(s.rules), bytes+float64(s.bytes)
	}
	n := float64(len(sizes))
	return turns / n, rules / n, bytes / n
}

// String says how the sessions grew, or nothing when they were not read.
func (g *sessionGrowth) String() string {
	if g == nil || g.readBefore == 0 || g.readAtEnd == 0 {
		return ""
	}
	return fmt.Sprintf("The returning users' sessions (%d read after seeding, %d at the end, through GET /v1/sessions/{id}) held on average %.1f turns, %.2f rules in rule_fires and %.0f bytes of JSON after seeding, and %.1f turns, %.2f rules and %.0f bytes at the end (%+.0f %% in size); every turn kept of a session (up to FOCAL_MEMORY_MAX_TURNS) holds the session as it was after that turn.",
		g.readBefore, g.readAtEnd, g.turnsBefore, g.rulesBefore, g.bytesBefore, g.turnsEnd, g.rulesEnd, g.bytesEnd, 100*(g.bytesEnd/g.bytesBefore-1))
}

// readSessionGrowth reads the returning users' sessions after seeding and
// answers a function that reads them again and says how they grew.
func readSessionGrowth(c *chatClient) (atEnd func() *sessionGrowth, err error) {
	ids, err := c.returningSessions()
	if err != nil {
		return nil, err
	}
	before, err := c.sessionSizes(ids)
	if err != nil {
		return nil, err
	}
	g := &sessionGrowth{readBefore: len(before)}
	g.turnsBefore, g.rulesBefore, g.bytesBefore = means(before)
	return func() *sessionGrowth {
		end, err := c.sessionSizes(ids)
		if err != nil {
			return nil
		}
		g.readAtEnd = len(end)
		g.turnsEnd, g.rulesEnd, g.bytesEnd = means(end)
		return g
	}, nil
}
