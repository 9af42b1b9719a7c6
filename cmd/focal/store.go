package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"focal/application"
	"focal/bootstrap"
)

// exitSameStore is focal store copy's exit status when --from and --to
// name one store (1 is any other failure).
const exitSameStore = 2

func storeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Work on the service's store"}
	var from, to string
	var tenants bootstrap.CopyTenants
	copyCmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy tenants' agents, sessions, model keys and budgets to another store",
		Long: "Copies each --tenant's data from one store to another (with --all-tenants, that of every tenant the source\n" +
			"holds an agent, a session, a model key or a budget for): agents with every version of their current life at\n" +
			"its number, sessions with their turn records, model keys still sealed (run the target's service with the\n" +
			"same FOCAL_SECRET_KEY), budgets with this month's usage. Idempotency records and rate-limit counters are\n" +
			"short-lived and not copied. What the target has is kept and what it lacks is added, so running it again\n" +
			"copies only what is new, and finishes an interrupted run. A store is sqlite:PATH, a postgres:// or\n" +
			"mongodb:// URL, or a configuration file (its store section); FOCAL_* variables are not read. The source is\n" +
			"only read: not migrated, so one of an older schema is refused. A store copied onto itself, however it is\n" +
			"named, is refused with exit status 2.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStoreCopy(cmd.Context(), cmd.OutOrStdout(), from, to, tenants)
		},
	}
	copyCmd.Flags().StringVar(&from, "from", "", "the store to copy from (required)")
	copyCmd.Flags().StringVar(&to, "to", "", "the store to copy to (required)")
	copyCmd.Flags().StringArrayVar(&tenants.IDs, "tenant", nil, "a tenant id to copy (repeat for more; or --all-tenants)")
	copyCmd.Flags().BoolVar(&tenants.All, "all-tenants", false, "copy every tenant the source holds data for (instead of --tenant)")
	for _, f := range []string{"from", "to"} {
		_ = copyCmd.MarkFlagRequired(f)
	}
	cmd.AddCommand(copyCmd)
	return cmd
}

// runStoreCopy copies and prints what it did per tenant; an error when
// anything was not copied.
func runStoreCopy(ctx context.Context, out io.Writer, from, to string, tenants bootstrap.CopyTenants) error {
	switch {
	case tenants.All && len(tenants.IDs) > 0:
		return errors.New("--tenant and --all-tenants exclude each other: name the tenants to copy, or copy them all")
	case !tenants.All && len(tenants.IDs) == 0:
		return errors.New("name the tenants to copy with --tenant ID (repeat for more), or copy every one with --all-tenants")
	}
	src, err := bootstrap.StoreFrom(from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	dst, err := bootstrap.StoreFrom(to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	results, err := bootstrap.CopyStore(ctx, src, dst, tenants, zap.NewNop())
	if errors.Is(err, bootstrap.ErrSameStore) {
		return &exitError{status: exitSameStore, msg: err.Error()}
	}
	p := &printer{w: out}
	problems := 0
	for _, r := range results {
		printCopy(p, r)
		problems += len(r.Problems)
	}
	switch {
	case err != nil:
		return err
	case p.err != nil:
		return p.err
	case problems > 0:
		return fmt.Errorf("%d %s not copied", problems, plural(problems, "item", "items"))
	}
	return nil
}

func printCopy(p *printer, r application.CopyResult) {
	p.f("tenant %s: copied %d %s (%d %s), %d %s (%d %s), %d model %s, %d %s; %d already there\n", r.TenantID,
		r.Agents, plural(r.Agents, "agent", "agents"), r.Versions, plural(r.Versions, "version", "versions"),
		r.Sessions, plural(r.Sessions, "session", "sessions"), r.Turns, plural(r.Turns, "turn", "turns"),
		r.Keys, plural(r.Keys, "key", "keys"), r.Budgets, plural(r.Budgets, "budget", "budgets"), r.Kept)
	for _, msg := range r.Problems {
		p.f("  not copied: %s\n", msg)
	}
}
