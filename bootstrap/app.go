package bootstrap

import (
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"focal/adapters/logctx"
)

// NewLogger builds the service logger from cfg.
func NewLogger(cfg LogConfig) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if cfg.Format == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.DisableStacktrace = level != zapcore.DebugLevel
	return zc.Build()
}

// Options returns the fx options of the whole service for cfg. Every line
// logged through log has its URL credentials redacted. extra options come
// last, inside the service's scope, so tests can add fx.Populate, or
// fx.Decorate a port to wrap the observed one (see ObserveModule).
func Options(cfg Config, log *zap.Logger, extra ...fx.Option) fx.Option {
	log = logctx.Redacting(log)
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger { return quietFxLogger(log) }),
		ObserveModule,
		fx.Module("service",
			serviceModules(cfg),
			HTTPModule,
			fx.Invoke(debugListener),
			fx.Options(extra...),
		),
	)
}

// serviceModules are the service without its HTTP surface.
func serviceModules(cfg Config) fx.Option {
	return fx.Options(CoreModule, TenantModule, storeModule(cfg.Store), ModelModule, ToolsModule)
}

// quietFxLogger sends fx's wiring events to zap at debug level: at info
// they bury the few lines an operator needs under a hundred. fx's errors
// keep the error level.
func quietFxLogger(log *zap.Logger) fxevent.Logger {
	l := &fxevent.ZapLogger{Logger: log.Named("fx")}
	l.UseLogLevel(zapcore.DebugLevel)
	return l
}

// NewApp returns the fx application for cfg. Stopping waits for the HTTP
// drain and a few seconds more for the stores to close.
func NewApp(cfg Config, log *zap.Logger, extra ...fx.Option) *fx.App {
	return fx.New(Options(cfg, log, extra...), fx.StopTimeout(cfg.HTTP.ShutdownDrain+10*time.Second))
}
