package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"focal/bootstrap"
)

func serveCommand(configPath *string) *cobra.Command {
	var banner bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := bootstrap.LoadConfig(*configPath)
			if err != nil {
				return err
			}
			log, err := bootstrap.NewLogger(cfg.Log)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			if _, err := bootstrap.ApplyRuntime(cfg.Runtime, log); err != nil {
				return err
			}
			var srv *bootstrap.Server
			var loaded *bootstrap.StartupBundle
			app := bootstrap.NewApp(cfg, log, fx.Populate(&srv, &loaded))
			if err := app.Err(); err != nil {
				return err
			}
			// Listen for SIGINT and SIGTERM before starting: the server
			// accepts turns as soon as its start hook runs, and a signal
			// before fx listens would kill the process mid-turn instead of
			// draining it.
			stopped := app.Wait()
			startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
			defer cancel()
			if err := app.Start(startCtx); err != nil {
				return err
			}
			if banner {
				b := startBanner{cfg: cfg, addr: srv.Addr(), loaded: loaded, now: time.Now()}
				if err := b.write(cmd.OutOrStdout()); err != nil {
					fmt.Fprintln(os.Stderr, "focal: banner:", err)
				}
			}
			sig := <-stopped
			stopCtx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
			defer cancel()
			if err := app.Stop(stopCtx); err != nil {
				return err
			}
			if sig.ExitCode != 0 {
				return fmt.Errorf("stopped with exit code %d", sig.ExitCode)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&banner, "banner", false,
		"once listening, print the address, the start-up agent, a 24h admin token for its tenant, a curl line and the console URL (development)")
	return cmd
}
