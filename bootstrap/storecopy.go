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

// CopyStore copies the tenants' data from one store to another (focal
// store copy, application.StoreCopy), tenant by tenant; it stops at the
// first tenant a store fails for, returning what was done before.
func CopyStore(ctx context.Context, from, to StoreConfig, tenants CopyTenants, log *zap.Logger) ([]application.CopyResult, error) {
	switch {
	case tenants.All && len(tenants.IDs) > 0:
		return nil, errors.New("name tenants or copy them all, not both")
	case !tenants.All && len(tenants.IDs) == 0:
		return nil, errors.New("no tenant named")
	}
	if err := copyable(from, to); err != nil {
		return nil, err
	}
	var src, dst application.StoreSide
	stop, err := startStore(ctx, from, log, &src)
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
// it would create an empty one), and a store copied onto itself.
func copyable(from, to StoreConfig) error {
	if from.Kind == "memory" || to.Kind == "memory" {
		return errors.New("the memory store keeps nothing between runs: copy from and to sqlite, postgres or mongo")
	}
	if from.Kind == "sqlite" {
		if _, err := os.Stat(from.SQLite.Path); err != nil {
			return fmt.Errorf("the source SQLite file: %w", err)
		}
	}
	if where(from) == where(to) {
		return errors.New("the source and the target are the same store")
	}
	return nil
}

// where names the data a store configuration reaches.
func where(c StoreConfig) string {
	switch c.Kind {
	case "sqlite":
		return "sqlite:" + c.SQLite.Path
	case "postgres":
		return c.Postgres.URL
	case "mongo":
		return c.Mongo.URI + " " + c.Mongo.Database
	}
	return c.Kind
}

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

// startStore starts the store of cfg alone, fills side with its ports and
// returns what stops it.
func startStore(ctx context.Context, cfg StoreConfig, log *zap.Logger, side *application.StoreSide) (stop func(), err error) {
	app := fx.New(
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
