package bootstrap

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/postgres"
	"focal/adapters/sqlite"
	"focal/ports"
)

// PostgresModule provides every store from PostgreSQL over one connection
// pool. The constructor only checks the configuration; connecting,
// checking the server's durability settings and migrating the schema
// happen when the app starts, so a server that is down fails start-up
// with a clear error.
var PostgresModule = fx.Module("postgres",
	fx.Provide(
		newPostgresDB,
		fx.Annotate(postgres.NewPolicies, fx.As(new(ports.PolicyStore)), fx.As(new(ports.PolicyHistory))),
		fx.Annotate(postgres.NewSessions, fx.As(new(ports.SessionStore))),
		fx.Annotate(postgres.NewTurns, fx.As(new(ports.TurnStore))),
		fx.Annotate(postgres.NewLeases, fx.As(new(ports.SessionLocker))),
		fx.Annotate(postgres.NewIdempotencyKeys, fx.As(new(ports.IdempotencyStore))),
		fx.Annotate(postgres.NewRateLimits, fx.As(new(ports.RateLimiter))),
		fx.Annotate(postgres.NewTenants, fx.As(new(ports.TenantModelKeyStore)), fx.As(new(ports.BudgetStore)), fx.As(new(ports.UsageMeter)),
			fx.As(new(ports.TenantLister))),
		func(db *postgres.DB) readiness { return storeReadiness(ports.ReadyFunc(db.Ping)) },
	),
)

// SQLiteModule provides every store from one SQLite file: the durable
// store of a single instance.
var SQLiteModule = fx.Module("sqlite",
	fx.Provide(
		newSQLiteDB,
		fx.Annotate(sqlite.NewPolicies, fx.As(new(ports.PolicyStore)), fx.As(new(ports.PolicyHistory))),
		fx.Annotate(sqlite.NewSessions, fx.As(new(ports.SessionStore))),
		fx.Annotate(sqlite.NewTurns, fx.As(new(ports.TurnStore))),
		fx.Annotate(sqlite.NewLeases, fx.As(new(ports.SessionLocker))),
		fx.Annotate(sqlite.NewIdempotencyKeys, fx.As(new(ports.IdempotencyStore))),
		fx.Annotate(sqlite.NewRateLimits, fx.As(new(ports.RateLimiter))),
		fx.Annotate(sqlite.NewTenants, fx.As(new(ports.TenantModelKeyStore)), fx.As(new(ports.BudgetStore)), fx.As(new(ports.UsageMeter)),
			fx.As(new(ports.TenantLister))),
		func(db *sqlite.DB) readiness { return storeReadiness(ports.ReadyFunc(db.Ping)) },
	),
)

// WithPostgresOption adds an option to the PostgreSQL store (tests and
// the bench observe its statements with it).
func WithPostgresOption(opt postgres.Option) fx.Option {
	return optionIn(opt, "postgres_options")
}

// postgresParams are what the PostgreSQL pool needs.
type postgresParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Clock     ports.Clock
	Log       *zap.Logger
	Observers Observers
	Options   []postgres.Option `group:"postgres_options"`
}

func newPostgresDB(p postgresParams) (*postgres.DB, error) {
	cfg := p.Config.Store.Postgres.WithDefaults()
	opts := append([]postgres.Option{postgres.WithStatementObserver(p.Observers.PostgresStatements)}, p.Options...)
	db, err := postgres.Open(cfg, p.Clock, p.Log, opts...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.OperationTimeout)
			defer cancel()
			return db.Start(ctx)
		},
		OnStop: db.Close,
	})
	return db, nil
}

// WithSQLiteOption adds an option to the SQLite store.
func WithSQLiteOption(opt sqlite.Option) fx.Option {
	return optionIn(opt, "sqlite_options")
}

// sqliteParams are what the SQLite store needs.
type sqliteParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Clock     ports.Clock
	Log       *zap.Logger
	Options   []sqlite.Option `group:"sqlite_options"`
}

func newSQLiteDB(p sqliteParams) (*sqlite.DB, error) {
	db, err := sqlite.Open(p.Config.Store.SQLite, p.Clock, p.Log, p.Options...)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.Hook{OnStart: db.Start, OnStop: db.Close})
	return db, nil
}
