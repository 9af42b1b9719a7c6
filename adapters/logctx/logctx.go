// Package logctx carries a request's logger and its identifying fields
// (request, tenant, agent, session, turn ids) through a context, so every
// log line about a request names it, whichever adapter writes the line.
package logctx

import (
	"context"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type key struct{}

// Fields is the mutable set of identifying fields of one request. Adapters
// add ids as they learn them (the session is known only once resolved).
type Fields struct {
	mu     sync.Mutex
	base   *zap.Logger
	fields []field // a handful: found by name without a map
	// room holds the first fields, so a request's set is one allocation:
	// as many as a request sets (its request, tenant, agent, session, turn
	// and trace ids, and the model an OpenAI-style one names).
	room [7]field
	// carrier is the context Bind returns: held here, so that binding
	// allocates nothing.
	carrier carrier
}

// field is one field set: a string field (every id is one) as its key and
// value, the other kinds whole. A zap.Field is 64 bytes, this 40: room is
// part of every request's state, which this keeps in a smaller size class.
type field struct {
	key, value string
	other      *zap.Field // nil for a string field
}

// fieldOf is fl as a field. Only a field of another kind is copied to
// the heap (fl itself would be, whatever its kind, were its address
// taken).
func fieldOf(fl zap.Field) field {
	if fl.Type == zapcore.StringType {
		return field{key: fl.Key, value: fl.String}
	}
	other := new(zap.Field)
	*other = fl
	return field{key: fl.Key, other: other}
}

// zapField is the zap.Field f was made from.
func (f *field) zapField() zap.Field {
	if f.other != nil {
		return *f.other
	}
	return zap.String(f.key, f.value)
}

// zapFields appends the fields set so far to dst; f.mu is held.
func (f *Fields) zapFields(dst []zap.Field) []zap.Field {
	for i := range f.fields {
		dst = append(dst, f.fields[i].zapField())
	}
	return dst
}

// carrier is a context carrying a Fields over its parent.
type carrier struct {
	context.Context
	f *Fields
}

// Value is the Fields under logctx's key, else the parent's value.
func (c *carrier) Value(k any) any {
	if k == (key{}) {
		return c.f
	}
	return c.Context.Value(k)
}

// New returns ctx carrying a logger derived from base.
func New(ctx context.Context, base *zap.Logger, fields ...zap.Field) (context.Context, *Fields) {
	f := &Fields{}
	return f.Bind(ctx, base, fields...), f
}

// Bind is New for a Fields the caller holds (one allocation with the rest
// of what it keeps for a request): it sets f up with base and fields and
// returns ctx carrying it. f must not be copied or bound again after.
func (f *Fields) Bind(ctx context.Context, base *zap.Logger, fields ...zap.Field) context.Context {
	f.base = base
	f.fields = f.room[:0]
	f.Add(fields...)
	f.carrier = carrier{Context: ctx, f: f}
	return &f.carrier
}

// Add sets fields; a field named again replaces the earlier value.
func (f *Fields) Add(fields ...zap.Field) {
	f.mu.Lock()
	for _, fl := range fields {
		f.set(fieldOf(fl))
	}
	f.mu.Unlock()
}

// set sets one field, in place of the one of its name if there is one;
// f.mu is held. (Nothing here panics: the lock needs no defer.)
func (f *Fields) set(fl field) {
	for i := range f.fields {
		if f.fields[i].key == fl.key {
			f.fields[i] = fl
			return
		}
	}
	f.fields = append(f.fields, fl)
}

// Write logs msg at lvl with every field set so far, then extra: what
// Logger().Log would write, without deriving a logger, and encoding
// nothing when lvl is off (an access line per request, say).
func (f *Fields) Write(lvl zapcore.Level, msg string, extra ...zap.Field) {
	ce := f.base.Check(lvl, msg)
	if ce == nil {
		return
	}
	f.mu.Lock()
	all := f.zapFields(make([]zap.Field, 0, len(f.fields)+len(extra)))
	f.mu.Unlock()
	ce.Write(append(all, extra...)...)
}

// Logger returns the base logger with every field set so far.
func (f *Fields) Logger() *zap.Logger {
	f.mu.Lock()
	all := f.zapFields(make([]zap.Field, 0, len(f.fields)))
	f.mu.Unlock()
	return f.base.With(all...)
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
