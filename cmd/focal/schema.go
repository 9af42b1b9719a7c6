package main

import (
	"os"

	"github.com/spf13/cobra"

	"focal/adapters/bundleschema"
)

func schemaCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of agent bundle files (for editors and CI checks)",
		Long: "Print the JSON Schema of agent bundle files, generated from the types the importer uses. " +
			"A running service serves the same document at " + bundleschema.Path + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := bundleschema.Generate()
			if err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, doc, 0o644)
			}
			_, err = cmd.OutOrStdout().Write(doc)
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the schema to this file instead of standard output")
	return cmd
}
