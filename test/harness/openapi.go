package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gin-gonic/gin"

	httpapi "focal/adapters/http"
)

// The API contract: every response that goes through App.Do is validated
// against the OpenAPI document the service serves at /openapi.json (status,
// documented headers, body), and a mismatch fails the test. Requests that
// were refused are not held to it, since many tests send invalid ones on
// purpose; a request the document calls invalid that the service accepted
// (2xx) fails the test: either the document or the service is wrong.

// apiContract is the loaded API document.
type apiContract struct {
	doc    *openapi3.T
	router routers.Router
	opts   []openapi3.SchemaValidationOption
}

var (
	contractOnce sync.Once
	theContract  *apiContract
	contractErr  error
)

// uuidPattern is what the service accepts as a UUID: the canonical
// 36-character form, any version, any letter case.
const uuidPattern = `^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`

// loadContract loads and validates the API document once per process.
func loadContract(t testing.TB) *apiContract {
	t.Helper()
	contractOnce.Do(func() {
		raw, err := withEventSchemas(httpapi.OpenAPIDocument())
		if err != nil {
			contractErr = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			contractErr = fmt.Errorf("load openapi.json: %w", err)
			return
		}
		doc.SetStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(uuidPattern))
		// The document's server is relative ("/": wherever it is served);
		// the router matches paths on any host once it has none.
		doc.Servers = nil
		router, err := legacy.NewRouter(doc) // validates the document too
		if err != nil {
			contractErr = fmt.Errorf("openapi.json: %w", err)
			return
		}
		// Bundles may be sent as any YAML type the service accepts.
		for _, mt := range []string{"text/yaml", "text/x-yaml"} {
			openapi3filter.RegisterBodyDecoder(mt, openapi3filter.YamlBodyDecoder)
		}
		theContract = &apiContract{doc: doc, router: router, opts: doc.GetSchemaValidationOptions()}
	})
	if contractErr != nil {
		t.Fatalf("openapi: %v", contractErr)
	}
	return theContract
}

// streamPath and streamEvents locate the JSON schemas of the chat stream's
// event data: OpenAPI 3.0 cannot type the events of a text/event-stream
// body, so the document lists them in the media type's x-sse-events.
const (
	streamPath   = "/v1/chat/stream"
	streamEvents = "x-sse-events"
)

// eventSchemaName is the component name under which an event's schema is
// loaded for validation.
func eventSchemaName(event string) string { return "StreamEvent." + event }

// withEventSchemas copies the stream's event schemas into the components,
// so that their references resolve and events validate like any body.
func withEventSchemas(doc []byte) ([]byte, error) {
	var whole map[string]any
	if err := json.Unmarshal(doc, &whole); err != nil {
		return nil, fmt.Errorf("read openapi.json: %w", err)
	}
	at := func(v any, keys ...string) any {
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	events, _ := at(whole, "paths", streamPath, "post", "responses", "200", "content", "text/event-stream", streamEvents).(map[string]any)
	schemas, _ := at(whole, "components", "schemas").(map[string]any)
	if len(events) == 0 || schemas == nil {
		return nil, fmt.Errorf("openapi.json: POST %s lists no %s", streamPath, streamEvents)
	}
	for name, schema := range events {
		schemas[eventSchemaName(name)] = schema
	}
	chunks, _ := at(whole, "paths", completionsPath, "post", "responses", "200", "content", "text/event-stream", streamEvents).(map[string]any)
	for name, schema := range chunks {
		schemas[chunkSchemaName(name)] = schema
	}
	return json.Marshal(whole)
}

// exchange is one request and its response, as sent and received.
type exchange struct {
	method, path string // path with its query
	reqHeader    http.Header
	reqBody      []byte
	status       int
	header       http.Header
	body         []byte
	// partial: the client stopped reading before the end, so a stream
	// need not have ended; what arrived must still follow the grammar.
	partial bool
	// counted: the app's rate limiter cannot fail (the memory store's),
	// so its authenticated answers all carry the rate headers.
	counted bool
}

func (x *exchange) String() string {
	return fmt.Sprintf("%s %s → %d", x.method, x.path, x.status)
}

// checkResponse validates one response against the document, failing t
// with every mismatch.
func (c *apiContract) checkResponse(t testing.TB, base string, x *exchange) {
	t.Helper()
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, x.method, base+x.path, bytes.NewReader(x.reqBody))
	if err != nil {
		t.Errorf("openapi: %s: %v", x, err)
		return
	}
	req.Header = x.reqHeader.Clone()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// No such operation: only the router's own answers, an unknown
		// route or method, may come back, with the error body.
		if x.status != http.StatusNotFound && x.status != http.StatusMethodNotAllowed {
			t.Errorf("openapi: %s: the document has no operation %s %s (%v)", x, x.method, req.URL.Path, err)
			return
		}
		c.checkBareError(t, x)
		return
	}

	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true,
			SkipSettingDefaults: true, SchemaValidationOptions: c.opts}}
	if x.status < 300 {
		in.Request = asDeclaredType(in.Request, route.Operation)
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("openapi: %s: the service accepted a request the document calls invalid: %v", x, err)
		}
	}

	contentType := x.header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(contentType)
	textual := mt == "text/event-stream" || mt == "text/plain" || mt == "application/openmetrics-text" ||
		mt == "text/html" || mt == "text/javascript" || mt == "text/css" || mt == "image/svg+xml"
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: textual,
			SchemaValidationOptions: c.opts}}
	out.SetBodyBytes(x.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("openapi: %s does not match the document: %v\nresponse headers: %v\nresponse body: %.2000s", x, err, x.header, x.body)
		return
	}
	res := route.Operation.Responses.Status(x.status).Value
	checkHeaders(t, x, res)
	switch {
	case len(res.Content) == 0:
		if len(x.body) > 0 {
			t.Errorf("openapi: %s: the document says this answer has no body, but it has one: %.500s", x, x.body)
		}
	case textual:
		if res.Content.Get(contentType) == nil {
			t.Errorf("openapi: %s: Content-Type %q is not documented for this answer", x, contentType)
		} else if mt == "text/event-stream" && req.URL.Path == completionsPath {
			c.checkChunks(t, x)
		} else if mt == "text/event-stream" {
			c.checkEvents(t, x)
		}
	}
}

// checkHeaders checks the headers of x's response that kin-openapi does
// not: those the service sends undeclared, and the rate headers the
// document calls optional.
func checkHeaders(t testing.TB, x *exchange, res *openapi3.Response) {
	t.Helper()
	checkSentHeaders(t, x, res)
	checkRateHeaders(t, x)
}

// contractHeaders are the response headers of the API's own conventions:
// a client generated from the document reads each only where it is
// declared, so the service must not send one anywhere else.
var contractHeaders = []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"Idempotent-Replayed", "WWW-Authenticate", "ETag", "Location"}

// checkSentHeaders fails t for each contract header x's response sends
// that the document does not declare for its status (kin-openapi checks
// only the headers declared).
func checkSentHeaders(t testing.TB, x *exchange, res *openapi3.Response) {
	t.Helper()
	for _, name := range contractHeaders {
		if x.header.Get(name) == "" {
			continue
		}
		declared := slices.ContainsFunc(slices.Collect(maps.Keys(res.Headers)), func(h string) bool { return strings.EqualFold(h, name) })
		if !declared {
			t.Errorf("openapi: %s sends %s: %q, which the document does not declare for this answer", x, name, x.header.Get(name))
		}
	}
}

// checkRateHeaders requires the X-RateLimit-* headers on every answer of
// an authenticated route but those refused before they were counted
// (401, a declared body over the limit), when the app's limiter cannot
// fail: the document calls them optional only for when the limiter's
// store cannot be reached (an outage test's).
func checkRateHeaders(t testing.TB, x *exchange) {
	t.Helper()
	if !x.counted || !strings.HasPrefix(x.path, "/v1/") || x.status == http.StatusUnauthorized ||
		x.status == http.StatusRequestEntityTooLarge {
		return
	}
	for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if x.header.Get(name) == "" {
			t.Errorf("openapi: %s: no %s header", x, name)
		}
	}
}

// suffixRanges are the structured-syntax media ranges openapi.json's
// request bodies list, which kin-openapi does not match (it knows type/*
// and */* only), with the media type each stands beside for the same
// schema.
var suffixRanges = map[string]string{"+json": "application/json", "+yaml": "application/yaml"}

// asDeclaredType is req, or a copy of it as the media type its document
// entry shares a schema with when its Content-Type (application/vnd.x+json)
// is declared by a suffix range (application/*+json), so that its body is
// validated against that entry's schema.
func asDeclaredType(req *http.Request, op *openapi3.Operation) *http.Request {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return req
	}
	content := op.RequestBody.Value.Content
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || content.Get(mt) != nil {
		return req
	}
	for suffix, stand := range suffixRanges {
		declared := content["application/*"+suffix]
		if !strings.HasPrefix(mt, "application/") || !strings.HasSuffix(mt, suffix) || declared == nil || content[stand] == nil ||
			declared.Schema.Ref != content[stand].Schema.Ref {
			continue
		}
		out := req.Clone(req.Context())
		out.Header.Set("Content-Type", mime.FormatMediaType(stand, params))
		return out
	}
	return req
}

// checkBareError validates an answer of the router itself (unknown route or
// method): the Error body and X-Request-ID.
func (c *apiContract) checkBareError(t testing.TB, x *exchange) {
	t.Helper()
	if x.header.Get("X-Request-ID") == "" {
		t.Errorf("openapi: %s: no X-Request-ID header", x)
	}
	if x.method == http.MethodHead {
		return // no body, by HTTP
	}
	if mt, _, _ := mime.ParseMediaType(x.header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("openapi: %s: the error body is %q, not JSON", x, x.header.Get("Content-Type"))
		return
	}
	c.checkJSON(t, x, "Error", x.body)
}

// checkJSON validates raw JSON against a component schema.
func (c *apiContract) checkJSON(t testing.TB, x *exchange, schema string, raw []byte) {
	t.Helper()
	ref := c.doc.Components.Schemas[schema]
	if ref == nil {
		t.Errorf("openapi: the document has no schema %s", schema)
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("openapi: %s: %s is not JSON: %v: %.500s", x, schema, err, raw)
		return
	}
	opts := append(slices.Clone(c.opts), openapi3.MultiErrors(), openapi3.VisitAsResponse())
	if err := ref.Value.VisitJSON(v, opts...); err != nil {
		t.Errorf("openapi: %s: does not match schema %s: %v\nbody: %.2000s", x, schema, err, raw)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, name, data string }

var eventID = regexp.MustCompile(`^([0-9a-f-]{36}):([0-9]+)$`)

// checkEvents holds a chat stream to the grammar the document describes:
// token* then exactly one done or error and nothing after; ids
// "<turn_id>:<n>" counting up; each event's data matching its schema; the
// tokens of a whole stream adding up to done.response.
func (c *apiContract) checkEvents(t testing.TB, x *exchange) {
	t.Helper()
	events, err := parseSSE(x.body, x.partial)
	if err != nil {
		t.Errorf("openapi: %s: %v\nbody: %.2000s", x, err, x.body)
		return
	}
	if len(events) == 0 && !x.partial {
		t.Errorf("openapi: %s: the stream has no event", x)
		return
	}
	schemas := map[string]string{"token": eventSchemaName("token"), "done": eventSchemaName("done"), "error": eventSchemaName("error")}
	var text strings.Builder
	firstSeq, lastSeq, turnID := -1, -1, ""
	for i, ev := range events {
		schema, known := schemas[ev.name]
		last := i == len(events)-1
		switch {
		case !known:
			t.Errorf("openapi: %s: event %d is %q, not token, done or error", x, i+1, ev.name)
			continue
		case ev.name == "token" && last && !x.partial:
			t.Errorf("openapi: %s: the stream ends without a done or error event", x)
		case ev.name != "token" && !last:
			t.Errorf("openapi: %s: event %d (%s) is followed by %d more", x, i+1, ev.name, len(events)-1-i)
		}
		c.checkJSON(t, x, schema, []byte(ev.data))
		m := eventID.FindStringSubmatch(ev.id)
		if m == nil {
			t.Errorf("openapi: %s: event %d has id %q, not <turn_id>:<n>", x, i+1, ev.id)
			continue
		}
		seq, _ := strconv.Atoi(m[2])
		if firstSeq < 0 {
			firstSeq, turnID = seq, m[1]
		} else if seq <= lastSeq || m[1] != turnID {
			t.Errorf("openapi: %s: event id %q does not follow %s:%d", x, ev.id, turnID, lastSeq)
		}
		lastSeq = seq
		var data struct {
			Content  string `json:"content"`
			Response string `json:"response"`
			TurnID   string `json:"turn_id"`
		}
		_ = json.Unmarshal([]byte(ev.data), &data)
		switch ev.name {
		case "token":
			text.WriteString(data.Content)
		case "done":
			if data.TurnID != turnID {
				t.Errorf("openapi: %s: done.turn_id %s is not the event ids' turn %s", x, data.TurnID, turnID)
			}
			if firstSeq == 1 && text.String() != data.Response {
				t.Errorf("openapi: %s: the tokens add up to %q, done.response is %q", x, text.String(), data.Response)
			}
		}
	}
}

// parseSSE splits an event stream into its events, skipping comments. A
// partial stream may end in the middle of an event, which is dropped.
func parseSSE(body []byte, partial bool) ([]sseEvent, error) {
	var events []sseEvent
	var cur sseEvent
	var data []string
	pending := false
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	if partial {
		text = text[:strings.LastIndexByte(text, '\n')+1] // a line cut short is no line
	}
	lines := strings.Split(text, "\n")
	for _, line := range lines {
		if line == "" {
			if pending {
				cur.data = strings.Join(data, "\n")
				events = append(events, cur)
			}
			cur, data, pending = sseEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		pending = true
		switch field {
		case "id":
			cur.id = value
		case "event":
			cur.name = value
		case "data":
			data = append(data, value)
		default:
			return nil, fmt.Errorf("unexpected field %q in the event stream", field)
		}
	}
	if pending && !partial {
		return nil, fmt.Errorf("the event stream ends in the middle of an event")
	}
	return events, nil
}

var (
	ginParam = regexp.MustCompile(`[:*][^/]+`)
	docParam = regexp.MustCompile(`\{[^/}]+\}`)
)

// checkRoutes requires the routes the engine serves and the operations the
// document describes to match one to one.
func (c *apiContract) checkRoutes(t testing.TB, engine *gin.Engine) {
	t.Helper()
	key := func(method, path string, param *regexp.Regexp) string {
		return strings.ToUpper(method) + " " + param.ReplaceAllString(path, "{}")
	}
	var served, documented []string
	for _, r := range engine.Routes() {
		served = append(served, key(r.Method, r.Path, ginParam))
	}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, key(method, path, docParam))
		}
	}
	for _, k := range served {
		if !slices.Contains(documented, k) {
			t.Errorf("openapi: the service serves %s, which openapi.json does not document", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(served, k) {
			t.Errorf("openapi: openapi.json documents %s, which the service does not serve", k)
		}
	}
}
