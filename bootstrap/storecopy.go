package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/mongo"
	"focal/adapters/postgres"
	"focal/adapters/sqlite"
	"focal/application"
	"focal/ports"
)

// StoreFrom reads a store named on the command line (focal store copy):
// sqlite:PATH, a postgres:// or postgresql:// URL, a mongodb:// or
// mongodb+srv:// URI, or else the path of a configuration file, whose
// store section is taken as the service reads it. FOCAL_* variables are
// not read: two stores are named, and one environment would set both.
// The settings not given keep their defaults.
func StoreFrom(spec string) (StoreConfig, error) {
	environ := map[string]string{}
	path := ""
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		environ["FOCAL_STORE"], environ["FOCAL_SQLITE_PATH"] = "sqlite", strings.TrimPrefix(spec, "sqlite:")
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		environ["FOCAL_STORE"], environ["FOCAL_POSTGRES_URL"] = "postgres", spec
	case strings.HasPrefix(spec, "mongodb://"), strings.HasPrefix(spec, "mongodb+srv://"):
		environ["FOCAL_STORE"], environ["FOCAL_MONGO_URI"] = "mongo", spec
	case spec == "":
		return StoreConfig{}, errors.New("no store named: give sqlite:PATH, a postgres:// or mongodb:// URL, or a configuration file")
	default:
		path = spec
	}
	cfg, err := readConfig(path, environ)
	if err != nil {
		return StoreConfig{}, err
	}
	if err := cfg.Store.Validate(); err != nil {
		return StoreConfig{}, fmt.Errorf("%s: %w", spec, err)
	}
	return cfg.Store, nil
}

// CopyTenants names the tenants CopyStore copies: IDs, or with All every
// tenant the source holds an agent, a session, a model key or a budget
// for. One of the two, not both.
type CopyTenants struct {
	IDs []string
	All bool
}

// ErrSameStore refuses a copy of a store onto itself (focal store copy
// exits 2 for it).
var ErrSameStore = errors.New("the source and the target are the same store")

// CopyStore copies the tenants' data from one store to another (focal
// store copy, application.StoreCopy), tenant by tenant; it stops at the
// first tenant a store fails for, returning what was done before. The
// source is opened read-only, neither migrated nor swept: one whose schema
// this binary cannot read as it is is refused. ErrSameStore when both
// configurations reach one store, however each names it.
func CopyStore(ctx context.Context, from, to StoreConfig, tenants CopyTenants, log *zap.Logger) ([]application.CopyResult, error) {
	switch {
	case tenants.All && len(tenants.IDs) > 0:
		return nil, errors.New("name tenants or copy them all, not both")
	case !tenants.All && len(tenants.IDs) == 0:
		return nil, errors.New("no tenant named")
	}
	if err := copyable(ctx, from, to); err != nil {
		return nil, err
	}
	var src, dst application.StoreSide
	stop, err := startStore(ctx, from, log, &src, readOnly)
	if err != nil {
		return nil, fmt.Errorf("the source store: %w", err)
	}
	defer stop()
	stop, err = startStore(ctx, to, log, &dst)
	if err != nil {
		return nil, fmt.Errorf("the target store: %w", err)
	}
	defer stop()
	cp, err := application.NewStoreCopy(src, dst, clock.System{})
	if err != nil {
		return nil, err
	}
	ids := tenants.IDs
	if tenants.All {
		if ids, err = cp.Tenants(ctx); err != nil {
			return nil, err
		}
	}
	var done []application.CopyResult
	for _, tenant := range ids {
		res, err := cp.Copy(ctx, tenant)
		done = append(done, res)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// copyable refuses what cannot be copied: the memory store (it keeps
// nothing between runs), a source SQLite file that does not exist (opening
// it would create an empty one), and a store copied onto itself, before
// either is opened (opening the target migrates it).
func copyable(ctx context.Context, from, to StoreConfig) error {
	if from.Kind == "memory" || to.Kind == "memory" {
		return errors.New("the memory store keeps nothing between runs: copy from and to sqlite, postgres or mongo")
	}
	if from.Kind == "sqlite" {
		if _, err := os.Stat(from.SQLite.Path); err != nil {
			return fmt.Errorf("the source SQLite file: %w", err)
		}
	}
	switch same, err := sameStore(ctx, from, to); {
	case err != nil:
		return fmt.Errorf("tell whether the source and the target are one store: %w", err)
	case same:
		return fmt.Errorf("%w: both reach one %s, and copying a store onto itself would change it", ErrSameStore, storeNames[from.Kind])
	}
	return nil
}

// sameStore tells whether two configurations reach one store, asking the
// files or the servers what they are: names differ in spellings the same
// store answers to (postgres:// or postgresql://, localhost or 127.0.0.1,
// a relative path or a link).
func sameStore(ctx context.Context, a, b StoreConfig) (bool, error) {
	if a.Kind != b.Kind {
		return false, nil
	}
	switch a.Kind {
	case "sqlite":
		return sqlite.SameFile(a.SQLite, b.SQLite)
	case "postgres":
		return postgres.SameDatabase(ctx, a.Postgres, b.Postgres)
	case "mongo":
		return mongo.SameDatabase(ctx, a.Mongo, b.Mongo)
	}
	return false, nil
}

// storeNames say what a store of each kind is.
var storeNames = map[string]string{"sqlite": "SQLite file", "postgres": "PostgreSQL database", "mongo": "MongoDB database"}

// readOnly opens a store to read it and nothing else: the copy's source.
var readOnly = fx.Options(WithSQLiteOption(sqlite.ReadOnly()), WithPostgresOption(postgres.ReadOnly()), WithMongoOption(mongo.ReadOnly()))

// storePorts are every port of a store StoreCopy reads or writes.
type storePorts struct {
	fx.In
	Policies ports.PolicyStore
	History  ports.PolicyHistory
	Sessions ports.SessionStore
	Turns    ports.TurnStore
	Locker   ports.SessionLocker
	Keys     ports.TenantModelKeyStore
	Budgets  ports.BudgetStore
	Usage    ports.UsageMeter
	Tenants  ports.TenantLister
}

// startStore starts the store of cfg alone, with the options opts, fills
// side with its ports and returns what stops it.
func startStore(ctx context.Context, cfg StoreConfig, log *zap.Logger, side *application.StoreSide, opts ...fx.Option) (stop func(), err error) {
	app := fx.New(
		fx.Options(opts...),
		fx.Supply(Config{Store: cfg}, log, Observers{}),
		fx.NopLogger,
		fx.Provide(fx.Annotate(func() clock.System { return clock.System{} }, fx.As(new(ports.Clock)))),
		storeModule(cfg),
		fx.Invoke(func(p storePorts) {
			*side = application.StoreSide{Policies: p.Policies, History: p.History, Sessions: p.Sessions, Turns: p.Turns,
				Locker: p.Locker, Keys: p.Keys, Budgets: p.Budgets, Usage: p.Usage, Tenants: p.Tenants}
		}),
	)
	if err := app.Err(); err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	return func() { _ = app.Stop(context.WithoutCancel(ctx)) }, nil
}
