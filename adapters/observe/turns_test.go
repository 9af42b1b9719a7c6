package observe

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

func committedTurn(status domain.TurnStatus, latencyMS int64) *domain.Turn {
	return &domain.Turn{
		Status:    status,
		LatencyMS: latencyMS,
		Model:     "gpt-test",
		Usage:     domain.TokenUsage{Prompt: 120, Completion: 30},
		Timings: []domain.StepTiming{
			{Step: "policy", DurationMS: 0.2},
			{Step: "retrieval", DurationMS: 1.5},
			{Step: "generation", DurationMS: 800},
		},
		Explanation: domain.Explanation{Generation: domain.Generation{Source: domain.SourceModel, ModelCalls: 2}},
	}
}

// A committed turn is counted by outcome with its latency, steps, tokens
// and model calls.
func TestTurnStoreRecordsCommittedTurns(t *testing.T) {
	m, _ := newObserved(t)
	ts := m.TurnStore(&fakeStore{})
	require.NoError(t, ts.CommitTurn(t.Context(), testLease, committedTurn(domain.TurnCompleted, 1200)))
	require.NoError(t, ts.CommitTurn(t.Context(), testLease, committedTurn(domain.TurnCompleted, 300)))
	failed := committedTurn(domain.TurnFailed, 50)
	failed.Timings, failed.Usage, failed.Model = nil, domain.TokenUsage{}, ""
	require.NoError(t, ts.CommitTurn(t.Context(), testLease, failed))
	require.NoError(t, ts.CommitTurn(t.Context(), testLease, committedTurn(domain.TurnInterrupted, 10)))

	assert.Equal(t, 2.0, testutil.ToFloat64(m.turns.WithLabelValues("completed")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.turns.WithLabelValues("failed")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.turns.WithLabelValues("interrupted")))

	completed := histogram(t, m, "focal_turn_duration_seconds", "outcome", "completed")
	assert.EqualValues(t, 2, completed.GetSampleCount())
	assert.InDelta(t, 1.5, completed.GetSampleSum(), 1e-9)
	assert.EqualValues(t, 1, observations(t, m, "focal_turn_duration_seconds", "outcome", "failed"))

	gen := histogram(t, m, "focal_engine_step_duration_seconds", "step", "generation")
	assert.EqualValues(t, 3, gen.GetSampleCount())
	assert.InDelta(t, 2.4, gen.GetSampleSum(), 1e-9)
	assert.EqualValues(t, 3, observations(t, m, "focal_engine_step_duration_seconds", "step", "policy"))

	assert.Equal(t, 360.0, testutil.ToFloat64(m.turnTokens.WithLabelValues("gpt-test", "prompt")))
	assert.Equal(t, 90.0, testutil.ToFloat64(m.turnTokens.WithLabelValues("gpt-test", "completion")))
	assert.Equal(t, 2, testutil.CollectAndCount(m.turnTokens), "no series for the failed turn's empty usage")

	calls := histogram(t, m, "focal_turn_model_calls")
	assert.EqualValues(t, 4, calls.GetSampleCount())
	assert.EqualValues(t, 8, calls.GetSampleSum())
}

// A refused commit is no turn: only the store operation is recorded.
func TestTurnStoreDoesNotCountRefusedCommits(t *testing.T) {
	m, _ := newObserved(t)
	busy := domain.Errorf(domain.CodeSessionBusy, "stale lease")
	err := m.TurnStore(&fakeStore{err: busy}).CommitTurn(t.Context(), testLease, committedTurn(domain.TurnCompleted, 10))
	require.Equal(t, busy, err)
	assert.Equal(t, 0, testutil.CollectAndCount(m.turns))
	assert.Equal(t, 0, testutil.CollectAndCount(m.turnDuration))
	assert.Equal(t, 0, testutil.CollectAndCount(m.stepDuration))
	assert.EqualValues(t, 1, observations(t, m, "focal_store_operation_duration_seconds",
		"operation", "turn.commit", "outcome", "SESSION_BUSY"))
}

// Sub-millisecond turns keep their resolution when the record's clock is
// this process's; otherwise LatencyMS decides.
func TestTurnLatencyResolution(t *testing.T) {
	fine := &domain.Turn{LatencyMS: 0, CreatedAt: time.Now().Add(-400 * time.Microsecond)}
	got := turnLatency(fine, time.Now())
	assert.Greater(t, got, 0.0004)
	assert.Less(t, got, 0.002)

	fake := &domain.Turn{LatencyMS: 250, CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	assert.Equal(t, 0.25, turnLatency(fake, time.Now()))
	assert.Equal(t, 0.25, turnLatency(&domain.Turn{LatencyMS: 250}, time.Now()))
}

// An agent names its own model, so model labels are tenant input: past
// maxModelLabels distinct values they are counted as "other", and the
// series stay bounded.
func TestModelLabelsAreBounded(t *testing.T) {
	m := NewMetrics(nil)
	for i := range 500 {
		m.recordTurn(&domain.Turn{Status: domain.TurnCompleted, Model: fmt.Sprintf("tenant-model-%d", i),
			Usage: domain.TokenUsage{Prompt: 1}}, 0.01)
		m.BreakerState(fmt.Sprintf("model openai/tenant-model-%d", i), BreakerOpen)
	}
	assert.Equal(t, maxModelLabels+1, testutil.CollectAndCount(m.turnTokens))
	assert.Equal(t, maxBreakerLabels+1, testutil.CollectAndCount(m.breakerState))
	assert.Equal(t, float64(500-maxModelLabels), testutil.ToFloat64(m.turnTokens.WithLabelValues(otherLabel, kindPrompt)))
}
