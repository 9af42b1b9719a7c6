package observe

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"focal/adapters/logctx"
)

// routeUnmatched labels requests no route matched (404, 405).
const routeUnmatched = "unmatched"

// untracedRoutes are probed by orchestrators and scrapers every few
// seconds; they are counted but get no span.
var untracedRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// GinMiddleware counts and times every request by route template, method
// and status, and runs it inside a server span that continues the caller's
// W3C trace context. It belongs after the request-id and recovery
// middleware, so it sees 404s, 405s, 401s and panics too.
func (m *Metrics) GinMiddleware() gin.HandlerFunc { return m.GinMiddlewareFrom(nil) }

// GinMiddlewareFrom is GinMiddleware timing each request from started's
// answer, a reading of the clock (with its monotonic reading) an earlier
// middleware took as the request began, when it has one: this one then
// reads the clock once, at the end. A nil started, or one without an
// answer, leaves the middleware to read the clock itself.
func (m *Metrics) GinMiddlewareFrom(started func(*gin.Context) (time.Time, bool)) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := requestWatch(c, started)
		route := c.FullPath()
		if route == "" {
			route = routeUnmatched
		}
		method := methodLabel(c.Request.Method)
		var span trace.Span
		if m.tracing && !untracedRoutes[route] {
			span = m.startServerSpan(c, route, method)
		}
		completed := false
		defer func() {
			status := c.Writer.Status()
			if !completed && !c.Writer.Written() {
				// A panic is on its way to the recovery middleware,
				// which will answer 500.
				status = http.StatusInternalServerError
			}
			m.httpRequestsOf.get(route, method, statusLabel(status)).Inc()
			m.httpDurationOf.get(route, method, "").Observe(start.seconds())
			if span != nil {
				endServerSpan(span, status)
			}
		}()
		c.Next()
		completed = true
	}
}

// requestWatch is the request's stopwatch, started at started's answer
// if it has one, else now.
func requestWatch(c *gin.Context, started func(*gin.Context) (time.Time, bool)) stopwatch {
	if started != nil {
		if t, ok := started(c); ok {
			return watchFrom(t)
		}
	}
	return startWatch()
}

// startServerSpan starts the request's span as a child of the caller's
// trace context, if any, and makes it the request context's span.
func (m *Metrics) startServerSpan(c *gin.Context, route, method string) trace.Span {
	ctx := m.propagator.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	name := method
	if route != routeUnmatched {
		name = method + " " + route
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", method),
		attribute.String("url.path", c.Request.URL.Path),
	}
	if route != routeUnmatched {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	if id := c.Writer.Header().Get("X-Request-ID"); id != "" {
		attrs = append(attrs, attribute.String("focal.request_id", id))
	}
	ctx, span := m.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	if sc := span.SpanContext(); sc.IsValid() {
		logctx.Add(ctx, zap.String("trace_id", sc.TraceID().String()))
	}
	c.Request = c.Request.WithContext(ctx)
	return span
}

func endServerSpan(span trace.Span, status int) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// statusLabels are the status codes' labels, written once: formatting the
// status of every request allocated its text each time.
var statusLabels = func() (labels [600]string) {
	for code := range labels {
		labels[code] = strconv.Itoa(code)
	}
	return labels
}()

// statusLabel is the label of an HTTP status code.
func statusLabel(status int) string {
	if status >= 0 && status < len(statusLabels) {
		return statusLabels[status]
	}
	return strconv.Itoa(status)
}

// methodLabels are the standard methods, the method label's values.
var methodLabels = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// methodLabel bounds the method label to the standard methods. It returns
// the label's own string, not the request's (read afresh from each
// request line), so the request's series are found by address (series).
// A switch finds it by the method's length and bytes, where a loop over
// methodLabels compared it with each in turn.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet:
		return methodLabels[0]
	case http.MethodHead:
		return methodLabels[1]
	case http.MethodPost:
		return methodLabels[2]
	case http.MethodPut:
		return methodLabels[3]
	case http.MethodPatch:
		return methodLabels[4]
	case http.MethodDelete:
		return methodLabels[5]
	case http.MethodOptions:
		return methodLabels[6]
	case http.MethodConnect:
		return methodLabels[7]
	case http.MethodTrace:
		return methodLabels[8]
	}
	return "OTHER"
}
