package observe

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"focal/ports"
)

// Span attributes of a turn.
const (
	attrTenantID   = attribute.Key("focal.tenant_id")
	attrAgentID    = attribute.Key("focal.agent_id")
	attrSessionID  = attribute.Key("focal.session_id")
	attrTurnNumber = attribute.Key("focal.turn_number")
	attrModel      = attribute.Key("focal.model")
	attrTokens     = attribute.Key("focal.tokens")
	attrModelCalls = attribute.Key("focal.model_calls")
	attrSource     = attribute.Key("focal.generation.source")
	attrStep       = attribute.Key("focal.engine.step")
)

// Engine wraps next so every turn gets a span, with one child span per
// engine step rebuilt from the outcome's timings. Turn metrics are recorded
// at commit (see TurnStore), where failed and interrupted turns are seen
// too.
func (m *Metrics) Engine(next ports.Engine) ports.Engine {
	return &engine{next: next, m: m}
}

type engine struct {
	next ports.Engine
	m    *Metrics
}

var _ ports.Engine = (*engine)(nil)

func (e *engine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	if !e.m.tracing {
		return e.next.RunTurn(ctx, in, sink)
	}
	return e.tracedTurn(ctx, in, sink)
}

// tracedTurn runs the turn in a span. The span's attributes are built in
// this frame, apart from RunTurn's: without tracing they would otherwise
// still sit on the stack a streaming turn waits for the model on.
func (e *engine) tracedTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	attrs := []attribute.KeyValue{attrTurnNumber.Int(in.TurnNumber)}
	if s := in.Session; s != nil {
		attrs = append(attrs, attrTenantID.String(s.TenantID), attrAgentID.String(s.AgentID), attrSessionID.String(s.ID))
	}
	start := time.Now()
	ctx, span := e.m.tracer.Start(ctx, "engine.turn", trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	out, err := e.next.RunTurn(ctx, in, sink)
	if out != nil {
		span.SetAttributes(attrModel.String(out.Model), attrTokens.Int(out.Usage.Total()),
			attrModelCalls.Int(out.Explanation.Generation.ModelCalls), attrSource.String(out.Explanation.Generation.Source))
		e.stepSpans(ctx, start, out)
	}
	finishSpan(span, err, outcomeOf(err))
	return out, err
}

// stepSpans records the outcome's step timings as child spans of the turn,
// laid end to end from its start: the engine runs its steps one after the
// other and reports only their durations.
func (e *engine) stepSpans(ctx context.Context, start time.Time, out *ports.TurnOutcome) {
	at := start
	for _, st := range out.Timings {
		end := at.Add(time.Duration(st.DurationMS * float64(time.Millisecond)))
		_, span := e.m.tracer.Start(ctx, "engine."+st.Step, trace.WithTimestamp(at),
			trace.WithAttributes(attrStep.String(st.Step)))
		span.End(trace.WithTimestamp(end))
		at = end
	}
}
