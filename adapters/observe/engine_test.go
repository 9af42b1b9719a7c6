package observe

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"focal/domain"
	"focal/ports"
)

type fakeEngine struct {
	out    *ports.TurnOutcome
	err    error
	deltas []string
	traced bool
}

func (f *fakeEngine) RunTurn(ctx context.Context, _ ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	f.traced = trace.SpanFromContext(ctx).SpanContext().IsValid()
	for _, d := range f.deltas {
		if err := sink(d); err != nil {
			return nil, err
		}
	}
	return f.out, f.err
}

func turnInput() ports.TurnInput {
	return ports.TurnInput{
		Session:    &domain.Session{ID: "s1", TenantID: "t1", AgentID: "a1"},
		TurnNumber: 4,
		Message:    "hello",
	}
}

// A turn gets a span and one child per step, laid end to end from the
// turn's start in the engine's order, each as long as its timing.
func TestEngineTracesTurnAndSteps(t *testing.T) {
	m, rec := newObserved(t)
	out := &ports.TurnOutcome{
		Response: "Hi!", Model: "gpt-x", Usage: domain.TokenUsage{Prompt: 10, Completion: 2},
		Explanation: domain.Explanation{Generation: domain.Generation{Source: domain.SourceModel, ModelCalls: 1}},
		Timings: []domain.StepTiming{
			{Step: "policy", DurationMS: 0.25},
			{Step: "embedding", DurationMS: 0},
			{Step: "retrieval", DurationMS: 1.5},
			{Step: "generation", DurationMS: 40},
		},
	}
	inner := &fakeEngine{out: out, deltas: []string{"Hi", "!"}}
	var got []string
	res, err := m.Engine(inner).RunTurn(t.Context(), turnInput(), func(d string) error { got = append(got, d); return nil })
	require.NoError(t, err)
	assert.Same(t, out, res)
	assert.Equal(t, []string{"Hi", "!"}, got)
	assert.True(t, inner.traced)

	turn := spanNamed(t, rec, "engine.turn")
	assert.Equal(t, "s1", attr(turn, "focal.session_id"))
	assert.Equal(t, "t1", attr(turn, "focal.tenant_id"))
	assert.Equal(t, "4", attr(turn, "focal.turn_number"))
	assert.Equal(t, "gpt-x", attr(turn, "focal.model"))
	assert.Equal(t, "12", attr(turn, "focal.tokens"))
	assert.Equal(t, "1", attr(turn, "focal.model_calls"))
	assert.Equal(t, codes.Unset, turn.Status().Code)

	at := turn.StartTime()
	for _, st := range out.Timings {
		span := spanNamed(t, rec, "engine."+st.Step)
		assert.Equal(t, turn.SpanContext().SpanID(), span.Parent().SpanID(), "%s is a child of the turn", st.Step)
		assert.Equal(t, turn.SpanContext().TraceID(), span.SpanContext().TraceID())
		assert.Equal(t, st.Step, attr(span, "focal.engine.step"))
		assert.True(t, span.StartTime().Equal(at), "%s starts where the previous step ended", st.Step)
		assert.Equal(t, time.Duration(st.DurationMS*float64(time.Millisecond)), span.EndTime().Sub(span.StartTime()), st.Step)
		at = span.EndTime()
	}
}

func TestEngineRecordsFailure(t *testing.T) {
	m, rec := newObserved(t)
	timeout := domain.Errorf(domain.CodeTimeout, "deadline")
	res, err := m.Engine(&fakeEngine{err: timeout}).RunTurn(t.Context(), ports.TurnInput{}, func(string) error { return nil })
	require.Equal(t, timeout, err)
	assert.Nil(t, res)
	require.Len(t, rec.Ended(), 1, "no outcome, no step spans")
	turn := rec.Ended()[0]
	assert.Equal(t, codes.Error, turn.Status().Code)
	assert.Equal(t, "TIMEOUT", attr(turn, "focal.error_code"))
}

// Store and model calls made during the turn are children of its span.
func TestEngineSpanParentsCallsInside(t *testing.T) {
	m, rec := newObserved(t)
	store := m.SessionStore(&fakeStore{})
	inner := engineFunc(func(ctx context.Context) (*ports.TurnOutcome, error) {
		_, err := store.GetSession(ctx, "t", "s")
		return &ports.TurnOutcome{}, err
	})
	_, err := m.Engine(inner).RunTurn(t.Context(), turnInput(), nil)
	require.NoError(t, err)
	turn := spanNamed(t, rec, "engine.turn")
	assert.Equal(t, turn.SpanContext().SpanID(), spanNamed(t, rec, "session.get").Parent().SpanID())
}

type engineFunc func(ctx context.Context) (*ports.TurnOutcome, error)

func (f engineFunc) RunTurn(ctx context.Context, _ ports.TurnInput, _ ports.DeltaSink) (*ports.TurnOutcome, error) {
	return f(ctx)
}
