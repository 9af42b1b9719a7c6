// Command focal is the Focal service and its tools: serve the API, issue
// development tokens, and (in later commands) chat with and test agents.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "focal:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "focal",
		Short:         "Focal runs chat turns for conversational AI agents",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "YAML configuration file (FOCAL_* variables override it)")
	root.AddCommand(serveCommand(&configPath), tokenCommand(&configPath), testCommand(&configPath),
		chatCommand(), agentsCommand(), sessionsCommand(), schemaCommand(), evalCommand(&configPath), lintCommand(), demoToolsCommand())
	return root
}
