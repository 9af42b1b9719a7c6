// Package logctx carries a request's logger and its identifying fields
// (request, tenant, agent, session, turn ids) through a context, so every
// log line about a request names it, whichever adapter writes the line.
package logctx

import (
	"context"
	"sync"

	"go.uber.org/zap"
)

type key struct{}

// Fields is the mutable set of identifying fields of one request. Adapters
// add ids as they learn them (the session is known only once resolved).
type Fields struct {
	mu     sync.Mutex
	base   *zap.Logger
	fields []zap.Field
	names  map[string]int
}

// New returns ctx carrying a logger derived from base.
func New(ctx context.Context, base *zap.Logger, fields ...zap.Field) (context.Context, *Fields) {
	f := &Fields{base: base, names: map[string]int{}}
	f.Add(fields...)
	return context.WithValue(ctx, key{}, f), f
}

// Add sets fields; a field named again replaces the earlier value.
func (f *Fields) Add(fields ...zap.Field) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range fields {
		if i, ok := f.names[fl.Key]; ok {
			f.fields[i] = fl
			continue
		}
		f.names[fl.Key] = len(f.fields)
		f.fields = append(f.fields, fl)
	}
}

// Logger returns the base logger with every field set so far.
func (f *Fields) Logger() *zap.Logger {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.base.With(f.fields...)
}

// Add sets fields on ctx's request logger, if it has one.
func Add(ctx context.Context, fields ...zap.Field) {
	if f, ok := ctx.Value(key{}).(*Fields); ok {
		f.Add(fields...)
	}
}

// From returns ctx's request logger, or fallback when it has none.
func From(ctx context.Context, fallback *zap.Logger) *zap.Logger {
	if f, ok := ctx.Value(key{}).(*Fields); ok {
		return f.Logger()
	}
	return fallback
}
