package main

import (
	"github.com/spf13/cobra"

	"focal/bootstrap"
)

func serveCommand(configPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := bootstrap.LoadConfig(*configPath)
			if err != nil {
				return err
			}
			log, err := bootstrap.NewLogger(cfg.Log)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			app := bootstrap.NewApp(cfg, log)
			if err := app.Err(); err != nil {
				return err
			}
			app.Run()
			return nil
		},
	}
}
