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

// runTools makes the turn's tool calls, concurrently, each under its own
// timeout, with inputs from the turn's variables, and returns them in the jobs' order. A
// failing tool, or one whose outputs are invalid, is recorded and the turn
// goes on without its outputs. The variables are gathered (by varsOf)
// only when there is a call to make: most turns make none.
func (e *Engine) runTools(ctx context.Context, cp *domain.CompiledPolicy, in ports.TurnInput, now time.Time, jobs []toolJob, varsOf func(ports.TurnInput) map[string]any) []domain.ToolCall {
	calls := make([]domain.ToolCall, len(jobs))
	if len(jobs) == 0 {
		return calls
	}
	vars := varsOf(in)
	s := in.Session
	var wg sync.WaitGroup
	for i, j := range jobs {
		ti := ports.ToolInput{Message: in.Message, Variables: toolInputs(j.tool, vars), RuleID: j.ruleID,
			SessionID: s.ID, TenantID: s.TenantID, AgentID: s.AgentID, TurnID: in.TurnID, ToolID: j.tool.ID}
		wg.Go(func() {
			calls[i] = e.callTool(ctx, cp, now, j, ti)
		})
	}
	wg.Wait()
	return calls
}

// sortedKeys are a map's keys in order.
func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// defaultToolTimeout applies when a tool names none.
const defaultToolTimeout = 5 * time.Second

func (e *Engine) callTool(ctx context.Context, cp *domain.CompiledPolicy, now time.Time, j toolJob, in ports.ToolInput) domain.ToolCall {
	tool := j.tool
	call := domain.ToolCall{ToolID: tool.ID, RuleID: j.ruleID, Step: j.step, On: j.on, Input: in.Variables}
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
	kept, err := cp.Variables().ToolOutputs(tool, out, now)
	if err != nil {
		call.Error = "the tool's answer was refused: " + err.Error()
		return call
	}
	call.Output = kept
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
