package alignment

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"focal/domain"
	"focal/ports"
)

// runTools calls the tools bound to the matched rules, concurrently, each
// under its own timeout, with the session's variables as they were before
// the turn, and returns the calls in the rules' order. A failing tool is
// recorded and the turn goes on without its outputs.
func (e *Engine) runTools(ctx context.Context, cp *domain.CompiledPolicy, in ports.TurnInput, matched []domain.RuleCandidate) []domain.ToolCall {
	type job struct {
		tool   domain.Tool
		ruleID string
	}
	var jobs []job
	seen := map[string]bool{}
	for _, m := range matched {
		for _, id := range cp.Rule(m.RuleID).ToolIDs {
			if tool := cp.Tool(id); tool != nil && !seen[id] {
				seen[id] = true
				jobs = append(jobs, job{tool: *tool, ruleID: m.RuleID})
			}
		}
	}
	calls := make([]domain.ToolCall, len(jobs))
	if len(jobs) == 0 {
		return calls
	}
	vars := variables(cp, in, in.Session)
	s := in.Session
	var wg sync.WaitGroup
	for i, j := range jobs {
		ti := ports.ToolInput{Message: in.Message, Variables: toolInputs(j.tool, vars), RuleID: j.ruleID,
			SessionID: s.ID, TenantID: s.TenantID, AgentID: s.AgentID, TurnID: in.TurnID, ToolID: j.tool.ID}
		wg.Go(func() { calls[i] = e.callTool(ctx, j.tool, j.ruleID, ti) })
	}
	wg.Wait()
	return calls
}

// sortedKeys are a map's keys in order.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// defaultToolTimeout applies when a tool names none.
const defaultToolTimeout = 5 * time.Second

func (e *Engine) callTool(ctx context.Context, tool domain.Tool, ruleID string, in ports.ToolInput) domain.ToolCall {
	call := domain.ToolCall{ToolID: tool.ID, RuleID: ruleID, Input: in.Variables}
	if e.tools == nil {
		call.Error = "no tool invoker is configured"
		return call
	}
	timeout := defaultToolTimeout
	if tool.TimeoutMS > 0 {
		timeout = time.Duration(tool.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := e.clock.Now()
	out, err := e.tools.InvokeTool(ctx, tool, in)
	call.LatencyMS = float64(e.clock.Now().Sub(start).Microseconds()) / 1000
	if err != nil {
		call.Error = err.Error()
		if de := (*domain.Error)(nil); errors.As(err, &de) {
			call.Error = de.Message
		}
		return call
	}
	call.Output = toolOutputs(tool, out)
	return call
}

// toolInputs passes the variables a tool declares, or all of them.
func toolInputs(tool domain.Tool, vars map[string]any) map[string]any {
	if len(tool.Inputs) == 0 {
		return maps.Clone(vars) // each call gets its own map
	}
	in := make(map[string]any, len(tool.Inputs))
	for _, k := range tool.Inputs {
		if v, ok := vars[k]; ok {
			in[k] = v
		}
	}
	return in
}

// toolOutputs keeps the outputs a tool declares, or all of them.
func toolOutputs(tool domain.Tool, out map[string]any) map[string]any {
	if len(tool.Outputs) == 0 {
		return maps.Clone(out)
	}
	kept := map[string]any{}
	for k, v := range out {
		if slices.Contains(tool.Outputs, k) {
			kept[k] = v
		}
	}
	return kept
}
