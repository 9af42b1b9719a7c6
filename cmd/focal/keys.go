package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"focal/bootstrap"
)

func keysCommand(configPath *string) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage the service key that seals tenants' model keys"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Seal every tenant's model key again under FOCAL_SECRET_KEY",
		Long: "Seals every stored tenant model key again under FOCAL_SECRET_KEY; the keys that sealed them must be in\n" +
			"FOCAL_SECRET_KEYS_OLD. Run it on the service's configuration once every instance runs with the new key (and\n" +
			"the old ones as FOCAL_SECRET_KEYS_OLD); afterwards the old keys can be removed. A key changed while it runs\n" +
			"is left to that newer write. Works on the durable stores (FOCAL_STORE=sqlite, postgres or mongo); the memory\n" +
			"store keeps nothing between runs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := bootstrap.LoadConfig(*configPath)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
			defer cancel()
			res, err := bootstrap.RotateKeys(ctx, cfg, zap.NewNop())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d resealed, %d already sealed with the current key, %d changed meanwhile (left to their newer write)\n",
				res.Resealed, res.Current, res.Changed)
			return err
		},
	})
	return cmd
}
