package observe

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"focal/domain"
	"focal/ports"
)

// fakeModel streams deltas (after delay) then returns result or err.
type fakeModel struct {
	deltas []string
	delay  time.Duration
	result ports.ChatResult
	err    error
	gotReq ports.ChatRequest
	traced bool
}

func (f *fakeModel) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	f.gotReq = req
	f.traced = trace.SpanFromContext(ctx).SpanContext().IsValid()
	time.Sleep(f.delay)
	for _, d := range f.deltas {
		if err := onDelta(d); err != nil {
			return ports.ChatResult{}, err
		}
	}
	return f.result, f.err
}

func TestChatModelRecordsSuccess(t *testing.T) {
	m, rec := newObserved(t)
	want := ports.ChatResult{Text: "Hello there", Usage: domain.TokenUsage{Prompt: 40, Completion: 7}, Provider: "openai", Model: "gpt-x"}
	inner := &fakeModel{deltas: []string{"Hello", " there"}, delay: 5 * time.Millisecond, result: want}
	var got []string
	req := ports.ChatRequest{Messages: []ports.ChatMessage{{Role: ports.RoleUser, Content: "hi"}}}
	res, err := m.ChatModel(inner, "openai", "gpt-x").StreamChat(t.Context(), req, func(d string) error {
		got = append(got, d)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, want, res)
	assert.Equal(t, []string{"Hello", " there"}, got, "deltas pass through in order")
	assert.Equal(t, req, inner.gotReq)
	assert.True(t, inner.traced)

	ttft := histogram(t, m, "focal_model_time_to_first_token_seconds", "provider", "openai", "model", "gpt-x")
	assert.EqualValues(t, 1, ttft.GetSampleCount(), "one first token per request")
	assert.GreaterOrEqual(t, ttft.GetSampleSum(), 0.005)
	assert.EqualValues(t, 1, observations(t, m, "focal_model_request_duration_seconds", "provider", "openai", "model", "gpt-x"))
	assert.Equal(t, 40.0, testutil.ToFloat64(m.modelTokens.WithLabelValues("openai", "gpt-x", "prompt")))
	assert.Equal(t, 7.0, testutil.ToFloat64(m.modelTokens.WithLabelValues("openai", "gpt-x", "completion")))
	assert.Equal(t, 0, testutil.CollectAndCount(m.modelErrors))

	span := spanNamed(t, rec, "chat gpt-x")
	assert.Equal(t, trace.SpanKindClient, span.SpanKind())
	assert.Equal(t, "openai", attr(span, "gen_ai.system"))
	assert.Equal(t, "40", attr(span, "gen_ai.usage.input_tokens"))
	assert.Equal(t, "7", attr(span, "gen_ai.usage.output_tokens"))
	require.Len(t, span.Events(), 1)
	assert.Equal(t, "first_token", span.Events()[0].Name)
	assert.Equal(t, codes.Unset, span.Status().Code)
}

// A request naming its own model is labelled with it.
func TestChatModelLabelsTheRequestedModel(t *testing.T) {
	m, rec := newObserved(t)
	inner := &fakeModel{result: ports.ChatResult{Usage: domain.TokenUsage{Prompt: 1}}}
	_, err := m.ChatModel(inner, "anthropic", "default-model").StreamChat(t.Context(),
		ports.ChatRequest{Model: "agent-model"}, func(string) error { return nil })
	require.NoError(t, err)
	assert.EqualValues(t, 1, observations(t, m, "focal_model_request_duration_seconds", "provider", "anthropic", "model", "agent-model"))
	assert.Equal(t, 0, testutil.CollectAndCount(m.modelTTFT), "no delta, no first token")
	spanNamed(t, rec, "chat agent-model")
}

func TestChatModelCountsErrorsByCode(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		code    string
		failure bool
	}{
		{"model error", domain.Errorf(domain.CodeLLMError, "bad request"), "LLM_ERROR", true},
		{"unavailable", domain.Errorf(domain.CodeLLMUnavailable, "breaker open"), "LLM_UNAVAILABLE", true},
		{"timeout", domain.Errorf(domain.CodeTimeout, "deadline"), "TIMEOUT", true},
		{"client left", context.Canceled, "canceled", false},
		{"uncoded", errors.New("boom"), "INTERNAL_ERROR", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := newObserved(t)
			res, err := m.ChatModel(&fakeModel{deltas: []string{"par"}, err: tc.err}, "openai", "gpt-x").
				StreamChat(t.Context(), ports.ChatRequest{}, func(string) error { return nil })
			require.Equal(t, tc.err, err)
			assert.Equal(t, ports.ChatResult{}, res)
			assert.Equal(t, 1.0, testutil.ToFloat64(m.modelErrors.WithLabelValues("openai", "gpt-x", tc.code)))
			assert.EqualValues(t, 1, observations(t, m, "focal_model_request_duration_seconds", "provider", "openai", "model", "gpt-x"))
			assert.Equal(t, 0, testutil.CollectAndCount(m.modelTokens))
			span := spanNamed(t, rec, "chat gpt-x")
			assert.Equal(t, tc.code, attr(span, "focal.error_code"))
			assert.Equal(t, tc.failure, span.Status().Code == codes.Error)
		})
	}
}

// The sink's error stops the call and comes back unchanged.
func TestChatModelPassesSinkErrors(t *testing.T) {
	m, _ := newObserved(t)
	gone := errors.New("client went away")
	_, err := m.ChatModel(&fakeModel{deltas: []string{"a", "b"}}, "openai", "gpt-x").
		StreamChat(t.Context(), ports.ChatRequest{}, func(string) error { return gone })
	require.Equal(t, gone, err)
	assert.EqualValues(t, 1, observations(t, m, "focal_model_time_to_first_token_seconds", "provider", "openai", "model", "gpt-x"))
}

// The offline model answers ErrOffline on every turn by design: not an
// error, not a request.
func TestChatModelIgnoresOffline(t *testing.T) {
	m, rec := newObserved(t)
	_, err := m.ChatModel(&fakeModel{err: ports.ErrOffline}, "offline", "none").
		StreamChat(t.Context(), ports.ChatRequest{}, func(string) error { return nil })
	require.ErrorIs(t, err, ports.ErrOffline)
	assert.Equal(t, 0, testutil.CollectAndCount(m.modelErrors))
	assert.Equal(t, 0, testutil.CollectAndCount(m.modelDuration))
	assert.Equal(t, codes.Unset, spanNamed(t, rec, "chat none").Status().Code)
}

type fakeEmbedder struct {
	vecs [][]float32
	err  error
}

func (f fakeEmbedder) Embed(context.Context, []string) ([][]float32, error) { return f.vecs, f.err }

func TestEmbedderRecordsDurationAndErrors(t *testing.T) {
	m, rec := newObserved(t)
	vecs := [][]float32{{1, 0}, {0, 1}}
	got, err := m.Embedder(fakeEmbedder{vecs: vecs}, "openai", "embed-3").Embed(t.Context(), []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, vecs, got)
	down := domain.Errorf(domain.CodeLLMUnavailable, "down")
	_, err = m.Embedder(fakeEmbedder{err: down}, "openai", "embed-3").Embed(t.Context(), []string{"a"})
	require.Equal(t, down, err)

	assert.EqualValues(t, 2, observations(t, m, "focal_embedding_request_duration_seconds", "provider", "openai", "model", "embed-3"))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.embedErrors.WithLabelValues("openai", "embed-3", "LLM_UNAVAILABLE")))
	require.Len(t, rec.Ended(), 2)
	assert.Equal(t, "2", attr(rec.Ended()[0], "focal.embedding.texts"))
	assert.Equal(t, codes.Error, rec.Ended()[1].Status().Code)
}

// When a fallback link answers, the series name the model that answered.
func TestChatModelLabelsTheAnsweringModel(t *testing.T) {
	m, rec := newObserved(t)
	inner := &fakeModel{deltas: []string{"x"}, result: ports.ChatResult{Provider: "anthropic", Model: "claude-x",
		Usage: domain.TokenUsage{Prompt: 5, Completion: 1}}}
	_, err := m.ChatModel(inner, "openai", "gpt-x").StreamChat(t.Context(), ports.ChatRequest{}, func(string) error { return nil })
	require.NoError(t, err)
	assert.EqualValues(t, 1, observations(t, m, "focal_model_request_duration_seconds", "provider", "anthropic", "model", "claude-x"))
	assert.EqualValues(t, 1, observations(t, m, "focal_model_time_to_first_token_seconds", "provider", "anthropic", "model", "claude-x"))
	assert.Equal(t, 5.0, testutil.ToFloat64(m.modelTokens.WithLabelValues("anthropic", "claude-x", "prompt")))
	assert.Equal(t, "claude-x", attr(spanNamed(t, rec, "chat gpt-x"), "gen_ai.response.model"))
}
