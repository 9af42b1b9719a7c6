package bootstrap

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/memory"
	"focal/adapters/mongo"
	"focal/ports"
)

// MemoryModule provides every store from process memory, bounded by the
// retention settings, with the sweeper that enforces them running while
// the application does.
var MemoryModule = fx.Module("memory",
	fx.Provide(
		fx.Annotate(func(cfg Config, clock ports.Clock) *memory.Store {
			return memory.New(clock, memory.WithRetention(cfg.Store.Memory))
		},
			fx.As(fx.Self()), fx.As(new(ports.PolicyStore)), fx.As(new(ports.SessionStore)),
			fx.As(new(ports.TurnStore)), fx.As(new(ports.SessionLocker)), fx.As(new(ports.IdempotencyStore))),
		fx.Annotate(memory.NewRateLimiter, fx.As(fx.Self()), fx.As(new(ports.RateLimiter))),
		func(s *memory.Store) readiness { return storeReadiness(s) },
	),
	fx.Invoke(memorySweeper),
)

// memorySweeper sweeps the store and the rate limiter in the background
// from start to stop.
func memorySweeper(lc fx.Lifecycle, cfg Config, clock ports.Clock, store *memory.Store, limiter *memory.RateLimiter) {
	every := cfg.Store.Memory.SweepInterval
	if every <= 0 {
		return
	}
	var w *memory.Sweeper
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			w = memory.StartSweeper(every, clock.Now,
				func(now time.Time) { store.Sweep(now) },
				func(now time.Time) { limiter.Sweep(now) })
			return nil
		},
		OnStop: func(context.Context) error {
			w.Stop()
			return nil
		},
	})
}

// MongoModule provides every store from MongoDB. Connecting, creating the
// indexes and reserving a lease epoch happen in the constructor, so a
// server that is down fails start-up with a clear error.
var MongoModule = fx.Module("mongo",
	fx.Provide(
		fx.Annotate(newMongoStore, fx.As(fx.Self()),
			fx.As(new(ports.PolicyStore)), fx.As(new(ports.SessionStore)),
			fx.As(new(ports.TurnStore)), fx.As(new(ports.SessionLocker)),
			fx.As(new(ports.IdempotencyStore)), fx.As(new(ports.RateLimiter))),
		func(s *mongo.Store) readiness { return storeReadiness(ports.ReadyFunc(s.Ping)) },
	),
)

// storeReadiness is the "store" check of /readyz.
func storeReadiness(store ports.ReadinessChecker) readiness {
	return readiness{Check: httpapi.ReadinessCheck{Name: "store", Probe: store}}
}

func newMongoStore(lc fx.Lifecycle, cfg Config, clock ports.Clock, log *zap.Logger, obs Observers) (*mongo.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Store.Mongo.ConnectTimeout+cfg.Store.Mongo.ServerSelectionTimeout)
	defer cancel()
	s, err := mongo.New(ctx, cfg.Store.Mongo, clock, log.Named("mongo"), mongo.WithCommandHook(obs.MongoCommands))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStop: s.Close})
	return s, nil
}

func storeModule(cfg StoreConfig) fx.Option {
	if cfg.Kind == "mongo" {
		return MongoModule
	}
	return MemoryModule
}
