package alignment

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// toolPolicy binds two tools to "track order" and answers "status again"
// from a template over their outputs.
func toolPolicy() *domain.Policy {
	track := globalRule("track", "track order", "Tell the order's status.")
	track.ToolIDs = []string{"status", "eta"}
	again := globalRule("again", "status again", "Repeat the status.")
	again.TemplateIDs = []string{"status-answer"}
	unrelated := globalRule("refund", "refund", "Explain refunds.")
	unrelated.ToolIDs = []string{"refund-tool"}
	p := testPolicy(track, again, unrelated)
	p.Tools = []domain.Tool{
		{ID: "status", URL: "http://tools.test/status", TimeoutMS: 1000, Inputs: []string{"order_id"}, Outputs: []string{"order_status"}},
		{ID: "eta", URL: "http://tools.test/eta", TimeoutMS: 1000},
		{ID: "refund-tool", URL: "http://tools.test/refund"},
	}
	p.Templates = []domain.Template{tpl("status-answer", domain.ModeExclusive, "Your order is {order_status}, arriving {eta}.")}
	return p
}

func toolCall(e domain.Explanation, id string) domain.ToolCall {
	for _, c := range e.ToolCalls {
		if c.ToolID == id {
			return c
		}
	}
	return domain.ToolCall{}
}

func TestToolsRunConcurrently(t *testing.T) {
	tools := newFakeTools().
		on("status", toolBehaviour{sleep: 200 * time.Millisecond, out: map[string]any{"order_status": "shipped"}}).
		on("eta", toolBehaviour{sleep: 200 * time.Millisecond, out: map[string]any{"eta": "Friday"}})
	h := newHarness(t, toolPolicy(), newFakeModel(say("It ships Friday.")), withTools(tools))
	h.run("track order")

	recs := tools.records()
	require.Len(t, recs, 2)
	first, last := recs[0].start, recs[0].end
	for _, r := range recs[1:] {
		first, last = minTime(first, r.start), maxTime(last, r.end)
	}
	assert.True(t, recs[0].start.Before(recs[1].end) && recs[1].start.Before(recs[0].end), "their calls overlap")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func TestToolOutputsBecomeVariablesForTheNextTemplate(t *testing.T) {
	tools := newFakeTools().
		on("status", toolBehaviour{out: map[string]any{"order_status": "shipped", "internal_note": "fragile"}}).
		on("eta", toolBehaviour{out: map[string]any{"eta": "Friday"}})
	m := newFakeModel(say("It has shipped."))
	h := newHarness(t, toolPolicy(), m, withTools(tools))
	h.session.Variables = map[string]any{"order_id": "A-17", "card_number": "4111"}

	r := h.run("track order")
	assert.Equal(t, map[string]any{"order_id": "A-17"}, toolCall(r.exp(), "status").Input, "declared inputs only")
	assert.Equal(t, map[string]any{"order_status": "shipped"}, toolCall(r.exp(), "status").Output, "declared outputs only")
	assert.Equal(t, "shipped", r.Session.Variables["order_status"])
	assert.Equal(t, "Friday", r.Session.Variables["eta"])
	assert.NotContains(t, r.Session.Variables, "internal_note")
	for _, rec := range tools.records() {
		assert.Equal(t, "track", rec.in.RuleID)
		assert.Equal(t, "track order", rec.in.Message)
		assert.Equal(t, "session-1", rec.in.SessionID)
		assert.Equal(t, testTenant, rec.in.TenantID)
		assert.Equal(t, testAgent, rec.in.AgentID, "breakers are keyed by tenant, agent and tool")
	}
	assert.Contains(t, systemMessage(m.request(0)), "- status: order_status=shipped")
	assert.Contains(t, systemMessage(m.request(0)), "- eta: eta=Friday")

	r = h.run("status again")
	assert.Equal(t, "Your order is shipped, arriving Friday.", r.Response)
	assert.Equal(t, 1, m.calls(), "the template answered without the model")
	assert.Len(t, tools.records(), 2, "the template's rule binds no tool")
}

func TestToolTimeoutIsRecordedAndTheTurnAnswers(t *testing.T) {
	p := toolPolicy()
	p.Tools[0].TimeoutMS = 50
	tools := newFakeTools().
		on("status", toolBehaviour{block: true}).
		on("eta", toolBehaviour{out: map[string]any{"eta": "Friday"}})
	m := newFakeModel(say("I could not check the status right now."))
	h := newHarness(t, p, m, withTools(tools))
	r := h.run("track order")

	call := toolCall(r.exp(), "status")
	assert.NotEmpty(t, call.Error)
	assert.Nil(t, call.Output)
	assert.GreaterOrEqual(t, call.LatencyMS, 40.0)
	assert.Empty(t, toolCall(r.exp(), "eta").Error)
	assert.NotContains(t, r.Session.Variables, "order_status")
	assert.Equal(t, "Friday", r.Session.Variables["eta"])
	assert.Equal(t, "I could not check the status right now.", r.Response)
	assert.Contains(t, systemMessage(m.request(0)), "- status failed: ")
}

func TestFailingToolIsRecordedWithItsError(t *testing.T) {
	tools := newFakeTools().
		on("status", toolBehaviour{err: domain.Errorf(domain.CodeInternal, "status service answered 500"),
			out: map[string]any{"order_status": "bogus"}}).
		on("eta", toolBehaviour{out: map[string]any{"eta": "Friday"}})
	h := newHarness(t, toolPolicy(), newFakeModel(say("Sorry.")), withTools(tools))
	r := h.run("track order")

	require.Len(t, r.exp().ToolCalls, 2, "only the matched rule's tools run")
	failed := toolCall(r.exp(), "status")
	assert.Equal(t, "status service answered 500", failed.Error)
	assert.Nil(t, failed.Output)
	assert.NotContains(t, r.Session.Variables, "order_status", "a failed call's outputs are dropped")
	var succeeded []string
	for _, c := range r.exp().ToolCalls {
		if c.Error == "" {
			succeeded = append(succeeded, c.ToolID)
		}
	}
	assert.Equal(t, []string{"eta"}, succeeded)
}

func TestToolsWithoutInvokerFailCleanly(t *testing.T) {
	h := newHarness(t, toolPolicy(), newFakeModel(say("Sorry.")))
	r := h.run("track order")
	require.Len(t, r.exp().ToolCalls, 2)
	for _, c := range r.exp().ToolCalls {
		assert.NotEmpty(t, c.Error)
	}
	assert.Equal(t, "Sorry.", r.Response)
}

// A tool that names new variables on every call cannot grow its session
// past domain.MaxSessionVariables; the variables it already set still
// change.
func TestToolOutputsCannotGrowASessionWithoutBound(t *testing.T) {
	calls := 0
	tools := newFakeTools().on("eta", toolBehaviour{outFn: func() map[string]any {
		calls++
		out := map[string]any{"eta": fmt.Sprintf("day %d", calls)}
		for i := range 40 {
			out[fmt.Sprintf("v%d_%d", calls, i)] = i
		}
		return out
	}})
	h := newHarness(t, toolPolicy(), newFakeModel(say("Soon."), say("Soon."), say("Soon.")), withTools(tools))
	var r turnResult
	for range 3 {
		r = h.run("track order")
	}
	assert.Len(t, r.Session.Variables, domain.MaxSessionVariables)
	assert.Equal(t, "day 3", r.Session.Variables["eta"])
}

// deadlineTools is a ports.ToolInvoker that notes, per tool, how long the
// context of its call had left when it was called.
type deadlineTools struct {
	mu   sync.Mutex
	left map[string]time.Duration
}

func (d *deadlineTools) InvokeTool(ctx context.Context, tool domain.Tool, _ ports.ToolInput) (map[string]any, error) {
	deadline, ok := ctx.Deadline()
	left := time.Duration(-1)
	if ok {
		left = time.Until(deadline)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.left[tool.ID] = left
	return map[string]any{}, nil
}

// docs/agent-bundle.md (Tools) documents timeout_ms as defaulting to
// 5000: a tool that names none is called with about 5 s left on its
// context — no more than 5 s and more than 4 s, so a default of 4 s or
// 6 s fails with a second's slack for a slow machine — while one that
// names 1000 ms gets at most 1 s.
func TestToolTimeoutDefaultsToTheDocumented5000ms(t *testing.T) {
	p := toolPolicy()
	p.Tools[1].TimeoutMS = 0 // eta names no timeout
	tools := &deadlineTools{left: map[string]time.Duration{}}
	h := newHarness(t, p, newFakeModel(say("It ships.")), func(d *Deps) { d.Tools = tools })
	h.run("track order")

	tools.mu.Lock()
	defer tools.mu.Unlock()
	require.Contains(t, tools.left, "eta")
	require.Contains(t, tools.left, "status")
	assert.LessOrEqual(t, tools.left["eta"], 5000*time.Millisecond, "a tool without timeout_ms has at most 5000 ms")
	assert.Greater(t, tools.left["eta"], 4000*time.Millisecond, "a tool without timeout_ms has about 5000 ms")
	assert.LessOrEqual(t, tools.left["status"], 1000*time.Millisecond, "timeout_ms 1000 is kept")
	assert.Greater(t, tools.left["status"], time.Duration(0), "timeout_ms 1000 is kept")
}
