package bootstrap

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
)

// Core is the application without its HTTP surface: for running turns in
// process (conversation tests, tools).
type Core struct {
	Chat  *application.ProcessMessage
	Admin *application.PolicyAdmin
	// Conversations reads the turn records the chats left.
	Conversations *application.Conversations
	app           *fx.App
}

// Stop releases the core's resources.
func (c *Core) Stop(ctx context.Context) error { return c.app.Stop(ctx) }

// StartCore starts the store, model, tools and engine modules of cfg, but no
// listener.
func StartCore(ctx context.Context, cfg Config, log *zap.Logger) (*Core, error) {
	c := &Core{}
	app := fx.New(
		fx.Supply(cfg, logctx.Redacting(log)),
		fx.NopLogger,
		ObserveModule,
		fx.Module("service", serviceModules(cfg), fx.Populate(&c.Chat, &c.Admin, &c.Conversations)),
	)
	if err := app.Err(); err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	c.app = app
	return c, nil
}
