package logctx

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestWriteLogsTheRequestFieldsThenTheLinesOwn(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, fields := New(context.Background(), zap.New(core), zap.String("request_id", "r1"))
	Add(ctx, zap.String("tenant_id", "t1"), zap.String("request_id", "r2"))

	fields.Write(zapcore.InfoLevel, "request", zap.Int("status", 200))
	fields.Write(zapcore.DebugLevel, "not written")

	require.Equal(t, 1, logs.Len(), "a line below the level is not written")
	line := logs.All()[0]
	require.Equal(t, "request", line.Message)
	require.Equal(t, []zapcore.Field{zap.String("request_id", "r2"), zap.String("tenant_id", "t1"), zap.Int("status", 200)}, line.Context,
		"a field named again replaces the earlier value in place")
	From(ctx, nil).Info("again")
	require.Equal(t, line.Context[:2], logs.All()[1].Context, "Logger carries the same fields")
}

type parentKey struct{}

// A context Bind returns carries the fields and is its parent in all else:
// the parent's values, its cancellation and its cause.
func TestBindCarriesTheFieldsOverTheParent(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), parentKey{}, "p"))
	var f Fields
	ctx := f.Bind(parent, zap.New(core), zap.String("request_id", "r1"))
	Add(ctx, zap.String("tenant_id", "t1"))
	From(ctx, nil).Info("line")
	require.Equal(t, []zapcore.Field{zap.String("request_id", "r1"), zap.String("tenant_id", "t1")}, logs.All()[0].Context)
	require.Equal(t, "p", ctx.Value(parentKey{}))

	cause := errors.New("client left")
	cancel(cause)
	<-ctx.Done()
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	require.Equal(t, cause, context.Cause(ctx))
}
