package observe

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// TracingConfig configures trace export over OTLP/HTTP.
type TracingConfig struct {
	// Endpoint is the collector's OTLP/HTTP base URL, e.g.
	// http://otel-collector:4318 (spans go to <Endpoint>/v1/traces unless
	// the URL already ends in /v1/traces). Empty turns tracing off.
	Endpoint string `env:"OTEL_ENDPOINT" yaml:"endpoint"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `env:"OTEL_SERVICE_NAME" envDefault:"focal" yaml:"service_name"`
	// SampleRatio is the share of new traces sampled, 0..1; a request that
	// arrives with a traceparent follows its caller's decision.
	SampleRatio float64 `env:"OTEL_SAMPLE_RATIO" envDefault:"1.0" yaml:"sample_ratio"`
}

// Validate checks the configuration.
func (c TracingConfig) Validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return errors.New("FOCAL_OTEL_SAMPLE_RATIO must be 0..1")
	}
	if c.Endpoint == "" {
		return nil
	}
	if c.ServiceName == "" {
		return errors.New("FOCAL_OTEL_SERVICE_NAME must not be empty")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("FOCAL_OTEL_ENDPOINT must be an http(s) URL such as http://otel-collector:4318")
	}
	return nil
}

// Tracing is the service's tracer provider: a no-op one when no endpoint is
// configured, else one that batches spans to the OTLP/HTTP collector.
type Tracing struct {
	provider trace.TracerProvider
	shutdown func(context.Context) error
}

// NewTracing builds the tracer provider for cfg. Export errors are logged
// through log (the OpenTelemetry error handler is process-global).
func NewTracing(cfg TracingConfig, log *zap.Logger) (*Tracing, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" {
		return &Tracing{provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	u, _ := url.Parse(cfg.Endpoint) // validated above
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/v1/traces") {
		path += "/v1/traces"
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host), otlptracehttp.WithURLPath(path)}
	if u.Scheme == "http" {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	// The HTTP exporter's Start does no I/O: it only sets up the exporter's
	// own instrumentation, so no deadline is needed here.
	exporter, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	named := log.Named("otel")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { named.Warn("trace export", zap.Error(err)) }))
	log.Info("tracing enabled", zap.String("endpoint", u.Scheme+"://"+u.Host+path),
		zap.String("service", cfg.ServiceName), zap.Float64("sample_ratio", cfg.SampleRatio))
	return &Tracing{provider: tp, shutdown: tp.Shutdown}, nil
}

// Provider is the tracer provider to give NewMetrics.
func (t *Tracing) Provider() trace.TracerProvider { return t.provider }

// Shutdown flushes buffered spans and stops the exporter; for the fx OnStop
// hook.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Span attribute keys of Focal's own.
const (
	attrErrorCode = attribute.Key("focal.error_code")
	attrOperation = attribute.Key("focal.store.operation")
)

// finishSpan ends span with outcome (see outcomeOf): faults are marked as
// errors, expected answers (NOT_FOUND, SESSION_BUSY, …) only labelled.
func finishSpan(span trace.Span, err error, outcome string) {
	if err != nil {
		span.SetAttributes(attrErrorCode.String(outcome))
		if isFailure(outcome) {
			span.RecordError(err)
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}
