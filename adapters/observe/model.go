package observe

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"focal/ports"
)

// Span attributes of model calls (OpenTelemetry GenAI conventions).
const (
	attrGenAISystem        = attribute.Key("gen_ai.system")
	attrGenAIRequestModel  = attribute.Key("gen_ai.request.model")
	attrGenAIResponseModel = attribute.Key("gen_ai.response.model")
	attrGenAIInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	attrGenAIOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	attrEmbedTexts         = attribute.Key("focal.embedding.texts")
)

// ChatModel wraps next, a model of provider serving model by default, so
// every request is timed (duration, time to first token), its tokens and
// errors counted and a span recorded. Series are labelled with the model
// that answered (ChatResult.Provider and Model, so a fallback link is told
// apart when next is a whole chain), else with the requested model
// (ChatRequest.Model, from the agent's settings), else with model.
//
// The offline model's ErrOffline is not a failure: such calls are neither
// timed nor counted.
func (m *Metrics) ChatModel(next ports.ChatModel, provider, model string) ports.ChatModel {
	return &chatModel{next: next, m: m, provider: provider, model: model}
}

// noSpan stands for a span when tracing is off.
var noSpan trace.Span = noop.Span{}

type chatModel struct {
	next            ports.ChatModel
	m               *Metrics
	provider, model string
}

var _ ports.OfflineModel = (*chatModel)(nil)

// Offline implements ports.OfflineModel: the wrapped model's answer (the
// calls it spares would be neither timed nor counted).
func (c *chatModel) Offline() bool { return ports.IsOffline(c.next) }

func (c *chatModel) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	call := chatCall{provider: c.provider, model: c.model, span: noSpan}
	if req.Model != "" {
		call.model = req.Model
	}
	if c.m.tracing {
		ctx = c.startSpan(ctx, &call)
	}
	call.start = time.Now()
	// The port calls onDelta from the calling goroutine: no lock needed.
	res, err := c.next.StreamChat(ctx, req, func(delta string) error {
		if call.ttft == 0 {
			call.ttft = max(time.Since(call.start), time.Nanosecond)
			call.span.AddEvent("first_token")
		}
		if onDelta == nil {
			return nil
		}
		return onDelta(delta)
	})
	c.record(&call, &res, err)
	return res, err
}

// chatCall is one model call being observed. Starting its span and
// recording it are functions of their own: their attributes and labels
// would otherwise take room in StreamChat's frame, which is on the stack
// while a streaming turn waits for the model's tokens.
type chatCall struct {
	provider, model string
	span            trace.Span
	start           time.Time
	ttft            time.Duration
}

// startSpan starts the call's span (tracing on only: spans that go nowhere
// are not built, their name and options allocate on every turn).
func (c *chatModel) startSpan(ctx context.Context, call *chatCall) context.Context {
	ctx, call.span = c.m.tracer.Start(ctx, "chat "+call.model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attrGenAISystem.String(call.provider), attrGenAIRequestModel.String(call.model)))
	return ctx
}

// record times and counts the finished call and ends its span.
func (c *chatModel) record(call *chatCall, res *ports.ChatResult, err error) {
	elapsed := time.Since(call.start)
	span, provider, model := call.span, call.provider, call.model
	if errors.Is(err, ports.ErrOffline) {
		span.SetAttributes(attrErrorCode.String("offline"))
		span.End()
		return
	}
	if err == nil {
		provider, model = cmp.Or(res.Provider, provider), cmp.Or(res.Model, model)
	}
	model = c.m.models.admit(model)
	if err == nil {
		span.SetAttributes(attrGenAIResponseModel.String(res.Model),
			attrGenAIInputTokens.Int(res.Usage.Prompt), attrGenAIOutputTokens.Int(res.Usage.Completion))
		addUsage(c.m.modelTokens, provider, model, res.Usage.Prompt, res.Usage.Completion)
	}
	c.m.modelDuration.WithLabelValues(provider, model).Observe(elapsed.Seconds())
	if call.ttft > 0 {
		c.m.modelTTFT.WithLabelValues(provider, model).Observe(call.ttft.Seconds())
	}
	outcome := outcomeOf(err)
	if err != nil {
		c.m.modelErrors.WithLabelValues(provider, model, outcome).Inc()
	}
	finishSpan(span, err, outcome)
}

func addUsage(tokens *prometheus.CounterVec, provider, model string, prompt, completion int) {
	if prompt > 0 {
		tokens.WithLabelValues(provider, model, kindPrompt).Add(float64(prompt))
	}
	if completion > 0 {
		tokens.WithLabelValues(provider, model, kindCompletion).Add(float64(completion))
	}
}

// Embedder wraps next, an embedding model of provider, so every request is
// timed, its errors counted and a span recorded.
func (m *Metrics) Embedder(next ports.Embedder, provider, model string) ports.Embedder {
	return &embedder{next: next, m: m, provider: provider, model: model}
}

type embedder struct {
	next            ports.Embedder
	m               *Metrics
	provider, model string
}

var _ ports.Embedder = (*embedder)(nil)

func (e *embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	span := noSpan
	if e.m.tracing {
		ctx, span = e.m.tracer.Start(ctx, "embed "+e.model, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attrGenAISystem.String(e.provider), attrGenAIRequestModel.String(e.model),
				attrEmbedTexts.Int(len(texts))))
	}
	start := time.Now()
	vecs, err := e.next.Embed(ctx, texts)
	e.m.embedDuration.WithLabelValues(e.provider, e.model).Observe(since(start))
	outcome := outcomeOf(err)
	if err != nil {
		e.m.embedErrors.WithLabelValues(e.provider, e.model, outcome).Inc()
	}
	finishSpan(span, err, outcome)
	return vecs, err
}
