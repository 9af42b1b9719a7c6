package bootstrap

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/memory"
	"focal/adapters/mongo"
	"focal/adapters/observe"
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
			fx.As(new(ports.TurnStore)), fx.As(new(ports.SessionLocker)), fx.As(new(ports.IdempotencyStore)),
			fx.As(new(ports.PolicyHistory))),
		fx.Annotate(memory.NewRateLimiter, fx.As(fx.Self()), fx.As(new(ports.RateLimiter))),
		func(s *memory.Store) readiness { return storeReadiness(s) },
		fx.Annotate(memory.NewTenantModelKeys, fx.As(new(ports.TenantModelKeyStore))),
		fx.Annotate(memory.NewBudgets, fx.As(new(ports.BudgetStore))),
		fx.Annotate(memory.NewUsage, fx.As(new(ports.UsageMeter))),
	),
	fx.Invoke(memorySweeper, memoryIdleWork, memoryBacklog),
)

// memoryIdleWork runs the store's idle worker from start to stop, so that
// turns leave packing idle sessions and compacting slabs to it.
func memoryIdleWork(lc fx.Lifecycle, store *memory.Store) {
	var w *memory.IdleWorker
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			w = store.StartIdleWork()
			return nil
		},
		OnStop: func(context.Context) error {
			w.Stop()
			return nil
		},
	})
}

// memoryBacklog publishes how many sessions wait for the idle work to
// pack them.
func memoryBacklog(m *observe.Metrics, store *memory.Store) { m.WatchPackBacklog(store.PackBacklog) }

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

// MongoModule provides every store from MongoDB: one store per port over
// one shared connection. The constructor only checks the configuration;
// connecting, checking the server (a replica set, or a standalone one when
// allowed), creating the indexes and reserving a lease epoch happen when
// the app starts, so a server that is down or unfit fails start-up with a
// clear error.
var MongoModule = fx.Module("mongo",
	fx.Provide(
		newMongoDB,
		fx.Annotate(mongo.NewPolicies, fx.As(new(ports.PolicyStore))),
		fx.Annotate(mongo.NewPolicyVersions, fx.As(new(ports.PolicyHistory))),
		fx.Annotate(mongo.NewSessions, fx.As(new(ports.SessionStore))),
		fx.Annotate(mongo.NewTurns, fx.As(new(ports.TurnStore))),
		fx.Annotate(mongo.NewLeases, fx.As(new(ports.SessionLocker))),
		fx.Annotate(mongo.NewIdempotencyKeys, fx.As(new(ports.IdempotencyStore))),
		fx.Annotate(mongo.NewRateLimits, fx.As(new(ports.RateLimiter))),
		fx.Annotate(mongo.NewTenantModelKeys, fx.As(new(ports.TenantModelKeyStore))),
		fx.Annotate(mongo.NewBudgets, fx.As(new(ports.BudgetStore))),
		fx.Annotate(mongo.NewUsage, fx.As(new(ports.UsageMeter))),
		fx.Annotate(mongo.NewTenantList, fx.As(new(ports.TenantLister))),
		func(db *mongo.DB) readiness { return storeReadiness(ports.ReadyFunc(db.Ping)) },
	),
)

// storeReadiness is the "store" check of /readyz.
func storeReadiness(store ports.ReadinessChecker) readiness {
	return readiness{Check: httpapi.ReadinessCheck{Name: "store", Probe: store}}
}

// optionIn provides opt to the value group named group, which a store's
// constructor takes its options from.
func optionIn[T any](opt T, group string) fx.Option {
	return fx.Provide(fx.Annotate(func() T { return opt }, fx.ResultTags(`group:"`+group+`"`)))
}

// WithMongoOption adds an option to the MongoDB connection (tests and the
// bench observe its commands with it).
func WithMongoOption(opt mongo.Option) fx.Option {
	return optionIn(opt, "mongo_options")
}

// mongoParams are what the MongoDB connection needs.
type mongoParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Clock     ports.Clock
	Log       *zap.Logger
	Observers Observers
	Options   []mongo.Option `group:"mongo_options"`
}

func newMongoDB(p mongoParams) (*mongo.DB, error) {
	cfg := p.Config.Store.Mongo
	opts := append([]mongo.Option{mongo.WithCommandHook(p.Observers.MongoCommands)}, p.Options...)
	db, err := mongo.Open(cfg, p.Clock, p.Log, opts...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.ServerSelectionTimeout)
			defer cancel()
			return db.Start(ctx)
		},
		OnStop: db.Close,
	})
	return db, nil
}

func storeModule(cfg StoreConfig) fx.Option {
	switch cfg.Kind {
	case "mongo":
		return MongoModule
	case "postgres":
		return PostgresModule
	case "sqlite":
		return SQLiteModule
	default:
		return MemoryModule
	}
}
