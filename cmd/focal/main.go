// Command focal is the Focal service and its tools:
//
//	focal serve [--banner]             serve the HTTP API until SIGINT or SIGTERM
//	focal token                        print a development bearer token
//	focal test <bundle> <tests.yaml>…  run conversation tests in process (--url: against a deployment)
//	focal lint <bundle>                warn about conditions that will likely not work as meant
//	focal eval <bundle> <data>         measure matching on labelled messages (accuracy, macro-F1)
//	focal chat --agent <id>            chat with an agent in the terminal
//	focal agents import|export         move agent bundles in and out through the API
//	focal sessions show <session_id>   show a session and why the agent said what it said
//	focal schema                       print the JSON Schema of agent bundle files
//	focal replay --agent <id> …        replay recorded sessions against another policy version
//	focal keys rotate                  seal every tenant's model key again under FOCAL_SECRET_KEY
//	focal store copy --from … --to …   copy tenants' data to another store (another backend)
//	focal demo-tools                   serve the demo agent's order lookup (make run)
//
// Configuration comes from FOCAL_* variables over an optional --config
// YAML file; `focal <command> --help` tells the rest.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "focal:", err)
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
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
		chatCommand(), agentsCommand(), sessionsCommand(), schemaCommand(), replayCommand(), keysCommand(&configPath), storeCommand(),
		evalCommand(&configPath), lintCommand(&configPath), demoToolsCommand())
	return root
}
