package bootstrap

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/application"
	"focal/domain"
)

// StartupBundle is the agent FOCAL_BOOTSTRAP_BUNDLE imported at start: its
// owner, and its stored version as an admin sees it. Policy is nil until
// the app has started, and stays nil without a start-up bundle.
type StartupBundle struct {
	Tenant string
	Policy *domain.Policy
}

func newStartupBundle(lc fx.Lifecycle, cfg Config, admin *application.PolicyAdmin, log *zap.Logger) *StartupBundle {
	loaded := &StartupBundle{}
	if cfg.Startup.Bundle != "" {
		lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
			return importStartupBundle(ctx, cfg.Startup, admin, log, loaded)
		}})
	}
	return loaded
}

// importStartupBundle imports the start-up bundle and records what is
// stored in loaded. Every instance imports it when it starts: an unchanged
// bundle makes no new version, and instances starting together with a
// changed one make one between them.
func importStartupBundle(ctx context.Context, cfg StartupConfig, admin *application.PolicyAdmin, log *zap.Logger, loaded *StartupBundle) error {
	data, err := os.ReadFile(cfg.Bundle)
	if err != nil {
		return fmt.Errorf("read bootstrap bundle: %w", err)
	}
	res, err := admin.ImportBundle(ctx, application.BundleImport{
		TenantID: cfg.Tenant, TenantFromBundle: true, Bundle: data, SkipUnchanged: true})
	if err != nil {
		return fmt.Errorf("bootstrap bundle %s: %w", cfg.Bundle, err)
	}
	loaded.Tenant, loaded.Policy = res.TenantID, res.Policy
	p := res.Policy
	msg := "imported agent bundle"
	if res.Unchanged {
		msg = "agent bundle unchanged"
	}
	log.Info(msg, zap.String("tenant_id", res.TenantID), zap.String("agent_id", p.Agent.ID),
		zap.Int64("version", p.Agent.Version), zap.Int("rules", len(p.Rules)))
	return nil
}
