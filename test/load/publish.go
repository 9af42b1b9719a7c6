package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	httpapi "focal/adapters/http"
)

// publishRules is the size of the policy published.
const publishRules = 10000

// publishRun is one policy published and the turns after it.
type publishRun struct {
	// publish is the PUT of the bundle, from sending it to its answer;
	// first is from that answer to the first turn's, which is what a
	// policy compiled on first use makes its first user wait; next is
	// the turn after that, with the policy in place.
	publish, first, next time.Duration
	// stale turns ran on the previous version before one ran on the
	// version published, onNew after the publish's answer: a server that
	// answers from the old policy while the new one compiles.
	stale int
	onNew time.Duration
}

// publishWait is how long after a publish the bench waits for a turn on
// the version published, sending one every stalePause or so.
const (
	publishWait = 5 * time.Minute
	stalePause  = 10 * time.Millisecond
)

// publishMeasure is every run of the publish section, or why the
// measurement is void: a run that failed, or after which no turn ran on
// the policy published, throws out all of them.
type publishMeasure struct {
	runs []publishRun
	void string
}

// publishing publishes policies of publishRules rules to a running Focal
// through PUT /v1/agents/{id}/bundle, as an operator would, and times the
// call and the first turn after it. Each policy is a variant of its own
// (other recombined conditions), so nothing compiled before can answer for
// it, whatever the server caches by; the first turn's own record is read
// back to check that it ran on the version published. Informational: no
// target exists for it.
func (b *bench) publishing() error {
	bundle, err := b.bundleFile(100)
	if err != nil {
		return err
	}
	// A bundle of 10,000 rules is near the default body limit (4 MiB) and
	// the bench measures compiling it, not the limit.
	f, err := b.focal(bundle, "FOCAL_HTTP_MAX_BUNDLE_BYTES=67108864")
	if err != nil {
		return err
	}
	defer b.stop(f.cmd)
	c := newChatClient(f.url, token())
	// A turn on the bootstrap policy first: the process's own first-use
	// costs are not the policy's.
	msgs := b.phrases.messages()
	if _, err := c.chat("publish-warm", msgs[0]); err != nil {
		return err
	}
	var m publishMeasure
	for i := range b.runs {
		run, err := b.publishOnce(c, uint64(i+1), msgs[(i+1)%len(msgs)])
		if err != nil {
			m.void = err.Error()
			break
		}
		m.runs = append(m.runs, run)
	}
	b.report.extra = append(b.report.extra, m.target())
	return nil
}

// publishOnce publishes variant of the bench agent and sends a new user's
// message right after the answer, then another.
func (b *bench) publishOnce(c *chatClient, variant uint64, message string) (publishRun, error) {
	body, err := json.Marshal(buildBundleVariant(b.phrases, publishRules, variant))
	if err != nil {
		return publishRun{}, err
	}
	user := fmt.Sprintf("publish-%d", variant)
	start := time.Now()
	version, err := c.putBundle(body)
	published := time.Now()
	if err != nil {
		return publishRun{}, err
	}
	turn, err := c.chat(user, message)
	answered := time.Now()
	if err != nil {
		return publishRun{}, fmt.Errorf("first turn after publishing: %w", err)
	}
	run := publishRun{publish: published.Sub(start), first: answered.Sub(published)}
	// Each turn's record says which version it ran on; reading it is
	// part of the wait only while turns run on the previous one.
	for {
		v, err := c.turnVersion(turn.TurnID)
		if err != nil {
			return run, err
		}
		if v == version {
			break
		}
		if run.stale++; time.Since(published) > publishWait {
			return run, fmt.Errorf("no turn ran on version %d within %s of its publish (%d on version %d)", version, publishWait, run.stale, v)
		}
		// Paced, so that turns on the old policy do not take the CPU
		// the new one compiles on: onNew is known to within the pause.
		time.Sleep(stalePause)
		if turn, err = c.chat(user, message); err != nil {
			return run, err
		}
		answered = time.Now()
	}
	run.onNew = answered.Sub(published)
	if _, err := c.chat(user, message); err != nil {
		return run, fmt.Errorf("turn after the first on the version published: %w", err)
	}
	run.next = time.Since(answered)
	return run, nil
}

// putBundle publishes a bundle as the tenant's admin and answers the
// agent's new version, from the answer's ETag.
func (c *chatClient) putBundle(body []byte) (int64, error) {
	admin, err := httpapi.SignToken(benchSecret, httpapi.TokenRequest{TenantID: benchTenant, Roles: []string{httpapi.RoleAdmin},
		Tier: httpapi.TierEnterprise, TTL: time.Hour}, time.Now())
	if err != nil {
		return 0, err
	}
	req, _ := http.NewRequest(http.MethodPut, c.base+"/v1/agents/"+benchAgent+"/bundle", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body) // the answer is all read before the clock stops
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("publishing the bundle answered %d: %.300s", res.StatusCode, answer)
	}
	return strconv.ParseInt(strings.Trim(res.Header.Get("ETag"), `"`), 10, 64)
}

// turnVersion is the agent version a turn ran on, from its record.
func (c *chatClient) turnVersion(turnID string) (int64, error) {
	body, err := c.get("/v1/turns/" + turnID)
	if err != nil {
		return 0, err
	}
	var t struct {
		AgentVersion int64 `json:"agent_version"`
	}
	return t.AgentVersion, json.Unmarshal(body, &t)
}

// target is the measurement's row among the targets: informational, as
// no target exists for it.
func (m publishMeasure) target() targetRow {
	row := targetRow{target: fmt.Sprintf("first turn after publishing a policy of %s rules (a measurement; no target)", thousands(publishRules)),
		status: informational}
	if m.void == "" && len(m.runs) == 0 {
		m.void = "no runs"
	}
	if m.void != "" {
		row.measured, row.status = m.void, void
		return row
	}
	ms := func(f func(publishRun) time.Duration) (float64, string) {
		xs := make([]float64, len(m.runs))
		for i, r := range m.runs {
			xs[i] = float64(f(r)) / float64(time.Millisecond)
		}
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf("%.1f", x)
		}
		return median(xs), strings.Join(parts, ", ")
	}
	first, firsts := ms(func(r publishRun) time.Duration { return r.first })
	publish, publishes := ms(func(r publishRun) time.Duration { return r.publish })
	next, _ := ms(func(r publishRun) time.Duration { return r.next })
	row.measured = fmt.Sprintf("%.1f ms from the publish's answer to the first turn's (per run: %s ms)", first, firsts)
	stale := 0
	for _, r := range m.runs {
		stale += r.stale
	}
	if stale > 0 {
		onNew, onNews := ms(func(r publishRun) time.Duration { return r.onNew })
		row.measured += fmt.Sprintf(", %d turn(s) in all on the previous version; to the first turn on the version published %.1f ms (per run: %s ms)", stale, onNew, onNews)
	}
	row.measured += fmt.Sprintf("; the turn after it %.1f ms", next)
	row.compare = fmt.Sprintf("the publish call (PUT /v1/agents/{id}/bundle) %.1f ms (per run: %s ms)", publish, publishes)
	return row
}

// thousands writes n with a comma between thousands, as the targets do.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
