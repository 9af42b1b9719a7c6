package logctx

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"focal/domain"
)

// RedactURLs wraps core so that no URL credential reaches a log line:
// every URL in a message, string, byte-string, stringer or error field has
// its password and secret-looking query values replaced (domain.RedactURL).
// Tool webhooks and model base URLs often carry keys, and an error from an
// HTTP client quotes the URL it failed on.
func RedactURLs(core zapcore.Core) zapcore.Core { return redactingCore{core} }

// Redacting returns log with RedactURLs applied to its core.
func Redacting(log *zap.Logger) *zap.Logger {
	return log.WithOptions(zap.WrapCore(RedactURLs))
}

type redactingCore struct{ zapcore.Core }

func (c redactingCore) With(fields []zapcore.Field) zapcore.Core {
	return redactingCore{c.Core.With(redactFields(fields))}
}

// Check registers this core, not the wrapped one, so Write below runs.
func (c redactingCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c redactingCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = domain.RedactText(ent.Message)
	return c.Core.Write(ent, redactFields(fields))
}

// redactFields returns fields with URLs redacted; the caller's slice is
// copied before anything in it changes.
func redactFields(fields []zapcore.Field) []zapcore.Field {
	out := fields
	for i, f := range fields {
		text, ok := fieldText(f)
		if !ok {
			continue
		}
		if clean := domain.RedactText(text); clean != text {
			if &out[0] == &fields[0] {
				out = append([]zapcore.Field(nil), fields...)
			}
			out[i] = zap.String(f.Key, clean)
		}
	}
	return out
}

// fieldText is the text a field would log, for the kinds that can quote a
// URL.
func fieldText(f zapcore.Field) (string, bool) {
	switch f.Type {
	case zapcore.StringType:
		return f.String, true
	case zapcore.ByteStringType:
		b, _ := f.Interface.([]byte)
		return string(b), true
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil {
			return err.Error(), true
		}
	case zapcore.StringerType:
		if s, ok := f.Interface.(fmt.Stringer); ok && s != nil {
			return s.String(), true
		}
	case zapcore.ReflectType:
		switch v := f.Interface.(type) {
		case string:
			return v, true
		case error:
			return v.Error(), true
		}
	}
	return "", false
}
