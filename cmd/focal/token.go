package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	httpapi "focal/adapters/http"
	"focal/application"
	"focal/bootstrap"
)

func tokenCommand(configPath *string) *cobra.Command {
	var req httpapi.TokenRequest
	var role []string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a development bearer token signed with FOCAL_JWT_SECRET",
		Long: "Print an HS256 token for the given tenant, signed with the configured FOCAL_JWT_SECRET. " +
			"Only the token is printed, so it can be captured: TOKEN=$(focal token --tenant ...).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := bootstrap.LoadConfig(*configPath)
			if err != nil {
				return err
			}
			if cfg.Auth.Secret == "" {
				return errors.New("FOCAL_JWT_SECRET is not set: tokens for public-key verification are issued by your identity provider")
			}
			if !application.IsUUID(req.TenantID) {
				return errors.New("--tenant must be a UUID")
			}
			if req.TTL <= 0 {
				return errors.New("--ttl must be positive")
			}
			if req.TTL > cfg.Auth.MaxTTL {
				return fmt.Errorf("--ttl %s is longer than FOCAL_JWT_MAX_TTL (%s): the service would refuse the token", req.TTL, cfg.Auth.MaxTTL)
			}
			req.Roles = role
			req.Issuer, req.Audience = cfg.Auth.Issuer, cfg.Auth.Audience
			tok, err := httpapi.SignToken(cfg.Auth.Secret, req, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.TenantID, "tenant", "", "tenant UUID (required)")
	f.StringVar(&req.Subject, "subject", "dev", "subject (sub claim)")
	f.StringSliceVar(&role, "role", nil, "role to grant, repeatable (admin may change policy)")
	f.StringVar(&req.Tier, "tier", httpapi.TierFree, "rate-limit tier: free, pro or enterprise")
	f.DurationVar(&req.TTL, "ttl", 24*time.Hour, "how long the token is valid")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}
