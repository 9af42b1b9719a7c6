package alignment

import (
	"context"
	"strings"
	"sync"
	"time"

	"focal/domain"
	"focal/ports"
)

// scripted is one scripted model answer: deltas streamed in order, then err
// (when set) instead of a result.
type scripted struct {
	deltas []string
	err    error
}

// say scripts an answer streamed as the given deltas.
func say(deltas ...string) scripted { return scripted{deltas: deltas} }

// fail scripts a model failure.
func fail(err error) scripted { return scripted{err: err} }

// fakeModel is a scripted ports.ChatModel. Generation requests (JSON off)
// and JSON requests (the rule judge and judge constraints) have their own
// scripts, consumed in order; the last entry of a script repeats. It counts
// calls, records requests and notes when its onDelta refused a delta.
type fakeModel struct {
	mu       sync.Mutex
	gen      []scripted
	json     []scripted
	requests []ports.ChatRequest
	stops    []error // errors onDelta returned, which ended a stream
	streamed int     // deltas passed to onDelta, all calls
}

func newFakeModel(gen ...scripted) *fakeModel { return &fakeModel{gen: gen} }

// answerJSON scripts the answers to JSON requests.
func (m *fakeModel) answerJSON(answers ...scripted) *fakeModel {
	m.json = answers
	return m
}

func (m *fakeModel) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	m.mu.Lock()
	m.requests = append(m.requests, req)
	script := &m.gen
	if req.JSON {
		script = &m.json
	}
	var s scripted
	switch len(*script) {
	case 0:
		s = say("ok")
	case 1:
		s = (*script)[0]
	default:
		s, *script = (*script)[0], (*script)[1:]
	}
	m.mu.Unlock()

	if s.err != nil {
		return ports.ChatResult{}, s.err
	}
	var text strings.Builder
	for _, d := range s.deltas {
		if err := ctx.Err(); err != nil {
			return ports.ChatResult{}, err
		}
		text.WriteString(d)
		m.mu.Lock()
		m.streamed++
		m.mu.Unlock()
		if err := onDelta(d); err != nil {
			m.mu.Lock()
			m.stops = append(m.stops, err)
			m.mu.Unlock()
			return ports.ChatResult{}, err
		}
	}
	return ports.ChatResult{Text: text.String(), Usage: domain.TokenUsage{Prompt: 10, Completion: len(s.deltas)},
		Provider: "fake", Model: "fake-1"}, nil
}

func (m *fakeModel) calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.requests)
}

// request returns the i-th recorded request.
func (m *fakeModel) request(i int) ports.ChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[i]
}

// genRequests returns the recorded generation (non-JSON) requests.
func (m *fakeModel) genRequests() []ports.ChatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ports.ChatRequest
	for _, r := range m.requests {
		if !r.JSON {
			out = append(out, r)
		}
	}
	return out
}

// deltasStreamed is how many deltas the model has passed to onDelta.
func (m *fakeModel) deltasStreamed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streamed
}

func (m *fakeModel) stopErrors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]error(nil), m.stops...)
}

// fakeEmbedder returns the vector set for each text, a zero vector for
// unknown texts, and counts calls and texts.
type fakeEmbedder struct {
	mu      sync.Mutex
	vectors map[string][]float32
	dim     int
	err     error
	batches [][]string
}

func newFakeEmbedder(dim int) *fakeEmbedder {
	return &fakeEmbedder{vectors: map[string][]float32{}, dim: dim}
}

func (e *fakeEmbedder) set(text string, v ...float32) *fakeEmbedder {
	e.vectors[text] = v
	return e
}

func (e *fakeEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, append([]string(nil), texts...))
	if e.err != nil {
		return nil, e.err
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, ok := e.vectors[t]
		if !ok {
			v = make([]float32, e.dim)
		}
		out[i] = append([]float32(nil), v...) // the engine normalises in place
	}
	return out, nil
}

// embedded counts how often text was embedded.
func (e *fakeEmbedder) embedded(text string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, b := range e.batches {
		for _, t := range b {
			if t == text {
				n++
			}
		}
	}
	return n
}

// toolBehaviour is what the fake tool does when called.
type toolBehaviour struct {
	out   map[string]any
	outFn func() map[string]any // when set, each call's output
	err   error
	sleep time.Duration
	block bool // wait until ctx ends, then return its error
}

// toolRecord is one recorded invocation.
type toolRecord struct {
	tool       string
	in         ports.ToolInput
	start, end time.Time
}

// fakeTools is a ports.ToolInvoker with per-tool behaviour.
type fakeTools struct {
	mu       sync.Mutex
	behave   map[string]toolBehaviour
	recorded []toolRecord
}

func newFakeTools() *fakeTools { return &fakeTools{behave: map[string]toolBehaviour{}} }

func (f *fakeTools) on(id string, b toolBehaviour) *fakeTools {
	f.behave[id] = b
	return f
}

func (f *fakeTools) InvokeTool(ctx context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	start := time.Now()
	f.mu.Lock()
	b := f.behave[tool.ID]
	f.mu.Unlock()
	var out map[string]any
	var err error
	switch {
	case b.block:
		<-ctx.Done()
		err = domain.WrapError(domain.CodeTimeout, ctx.Err(), "tool "+tool.ID+" timed out")
	case b.sleep > 0:
		select {
		case <-time.After(b.sleep):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		out, err = b.out, b.err
		if b.outFn != nil {
			f.mu.Lock()
			out = b.outFn()
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	f.recorded = append(f.recorded, toolRecord{tool: tool.ID, in: in, start: start, end: time.Now()})
	f.mu.Unlock()
	return out, err
}

func (f *fakeTools) records() []toolRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]toolRecord(nil), f.recorded...)
}
