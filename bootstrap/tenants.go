package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/clock"
	"focal/adapters/secrets"
	"focal/application"
	"focal/ports"
)

// TenantConfig configures tenants' own model keys, their budgets and the
// accounting of their usage.
type TenantConfig struct {
	Secrets secrets.Config `yaml:"secrets"`
	// RequireKeys refuses the service's model keys to tenants: a tenant
	// without its own key for a provider gets LLM_UNAVAILABLE.
	RequireKeys bool `env:"REQUIRE_TENANT_KEYS" envDefault:"false" yaml:"require_keys"`
	// KeysRefresh is how stale a tenant's cached keys may be on any
	// instance.
	KeysRefresh time.Duration `env:"TENANT_KEYS_REFRESH" envDefault:"5s" yaml:"keys_refresh"`
	// ModelHosts are the hosts a tenant's base URL may name; empty sends
	// tenants' keys only to their providers' own APIs.
	ModelHosts []string `env:"TENANT_MODEL_HOSTS" yaml:"model_hosts"`
	// BudgetBlockTokens is the size of the blocks instances claim from a
	// budget.
	BudgetBlockTokens int64 `env:"BUDGET_BLOCK_TOKENS" envDefault:"10000" yaml:"budget_block_tokens"`
	// BudgetRefresh is how stale a cached budget may be on any instance.
	BudgetRefresh time.Duration `env:"BUDGET_REFRESH" envDefault:"1s" yaml:"budget_refresh"`
	// UsageFlush is how often an instance writes the usage it counted.
	UsageFlush time.Duration `env:"USAGE_FLUSH_INTERVAL" envDefault:"10s" yaml:"usage_flush"`
	// MetricsPerTenant labels usage metrics with tenant ids (off by
	// default: one series per tenant is costly and names tenants).
	MetricsPerTenant bool `env:"METRICS_TENANT_USAGE" envDefault:"false" yaml:"metrics_per_tenant"`
}

// Validate checks the configuration.
func (c TenantConfig) Validate() error {
	var errs []error
	errs = append(errs, c.Secrets.Validate())
	if c.RequireKeys && !c.Secrets.Enabled() {
		errs = append(errs, errors.New("FOCAL_REQUIRE_TENANT_KEYS needs FOCAL_SECRET_KEY, to store the tenants' keys"))
	}
	if c.KeysRefresh < 0 || c.KeysRefresh > 5*time.Minute {
		errs = append(errs, errors.New("FOCAL_TENANT_KEYS_REFRESH must be 0..5m"))
	}
	if c.BudgetBlockTokens < 1 {
		errs = append(errs, errors.New("FOCAL_BUDGET_BLOCK_TOKENS must be at least 1"))
	}
	if c.BudgetRefresh < 0 || c.BudgetRefresh > time.Minute {
		errs = append(errs, errors.New("FOCAL_BUDGET_REFRESH must be 0..1m"))
	}
	if c.UsageFlush < 100*time.Millisecond {
		errs = append(errs, errors.New("FOCAL_USAGE_FLUSH_INTERVAL must be at least 100ms"))
	}
	return errors.Join(errs...)
}

// TenantModule provides tenants' model keys, budgets and usage: the
// sealer, the use cases, the budget gate every turn passes and its usage
// flusher, and the /v1/tenant routes.
var TenantModule = fx.Module("tenants",
	fx.Provide(
		newSealer,
		func(cfg Config, store ports.TenantModelKeyStore, sealer ports.SecretSealer, clk ports.Clock) (*application.TenantKeys, error) {
			return application.NewTenantKeys(application.TenantKeysConfig{BaseURLHosts: cfg.Tenants.ModelHosts}, store, sealer, clk)
		},
		newBudgetGate,
		application.NewTenantUsage,
	),
	fx.Invoke(func(chat *application.ProcessMessage, gate *application.BudgetGate) { chat.GateTurns(gate) }),
)

// newSealer is the keyring of FOCAL_SECRET_KEY, or nil (storing tenants'
// keys is off) without one.
func newSealer(cfg Config) (ports.SecretSealer, error) {
	if !cfg.Tenants.Secrets.Enabled() {
		return nil, nil
	}
	return secrets.NewKeyring(cfg.Tenants.Secrets)
}

// budgetGateParams are the budget gate's collaborators.
type budgetGateParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Budgets   ports.BudgetStore
	Meter     ports.UsageMeter
	Clock     ports.Clock
	Observers Observers
	Log       *zap.Logger
}

// newBudgetGate builds the gate and flushes usage from start to stop, once
// more when stopping.
func newBudgetGate(p budgetGateParams) (*application.BudgetGate, error) {
	cfg := p.Config
	gate, err := application.NewBudgetGate(application.BudgetConfig{
		BlockTokens: cfg.Tenants.BudgetBlockTokens, Refresh: cfg.Tenants.BudgetRefresh,
		EdgeWait: cfg.Chat.SessionLockWait, Holder: uuid.NewString(),
	}, p.Budgets, p.Meter, p.Clock, p.Observers.Usage)
	if err != nil {
		return nil, fmt.Errorf("budgets: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go flushUsage(ctx, gate, cfg.Tenants.UsageFlush, p.Log, done)
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			<-done
			return gate.Flush(stop, "")
		},
	})
	return gate, nil
}

// flushUsage writes the usage gate counted every interval until ctx ends,
// then closes done.
func flushUsage(ctx context.Context, gate *application.BudgetGate, interval time.Duration, log *zap.Logger, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := gate.Flush(ctx, ""); err != nil && ctx.Err() == nil {
			log.Warn("usage not written; it will be next time", zap.Error(err))
		}
	}
}

// RotateKeys seals every tenant's model key again under FOCAL_SECRET_KEY;
// FOCAL_SECRET_KEYS_OLD must hold the keys that sealed them. Run it once
// every instance has the new key (with the old ones still configured),
// then the old keys can be dropped. Every durable store keeps the sealed
// keys (ports.TenantModelKeyStore); the memory store keeps nothing between
// runs, so there is nothing there to rotate.
func RotateKeys(ctx context.Context, cfg Config, log *zap.Logger) (application.RotateResult, error) {
	if cfg.Store.Kind == "" || cfg.Store.Kind == "memory" {
		return application.RotateResult{}, errors.New("keys live in the service's store: rotate them with its FOCAL_STORE (sqlite, postgres or mongo); the memory store keeps nothing between runs, so a restart with the new key is all it needs")
	}
	if !cfg.Tenants.Secrets.Enabled() {
		return application.RotateResult{}, errors.New("FOCAL_SECRET_KEY is not set: there is no key to seal with")
	}
	var keys *application.TenantKeys
	stop, err := startKeyStore(ctx, cfg, log, &keys)
	if err != nil {
		return application.RotateResult{}, err
	}
	defer stop()
	return keys.Rotate(ctx)
}

// startKeyStore starts cfg's store, and no server, for a command on the
// tenants' keys: it fills targets (*application.TenantKeys,
// ports.TenantModelKeyStore) and returns what stops it.
func startKeyStore(ctx context.Context, cfg Config, log *zap.Logger, targets ...any) (stop func(), err error) {
	app := fx.New(
		fx.Supply(cfg, log),
		fx.NopLogger,
		fx.Supply(Observers{}),
		fx.Provide(
			fx.Annotate(func() clock.System { return clock.System{} }, fx.As(new(ports.Clock))),
			newSealer,
			func(store ports.TenantModelKeyStore, sealer ports.SecretSealer, clk ports.Clock) (*application.TenantKeys, error) {
				return application.NewTenantKeys(application.TenantKeysConfig{}, store, sealer, clk)
			},
		),
		storeModule(cfg.Store),
		fx.Populate(targets...),
	)
	if err := app.Err(); err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	return func() { _ = app.Stop(context.WithoutCancel(ctx)) }, nil
}
