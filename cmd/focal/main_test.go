package main

import (
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The package comment lists every command and subcommand, and no other: it
// is what `go doc` shows a newcomer.
func TestPackageCommentListsEveryCommand(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	var listed []string
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		synopsis, _, _ := strings.Cut(strings.TrimSpace(line), "  ") // the description follows after two spaces
		words := strings.Fields(synopsis)
		if len(words) < 2 || words[0] != "focal" {
			continue
		}
		var path []string
		for _, w := range words[1:] {
			if strings.ContainsAny(w[:1], "-[<") {
				break
			}
			path = append(path, w)
		}
		// "agents import|export" stands for both.
		last := len(path) - 1
		for _, alt := range strings.Split(path[last], "|") {
			listed = append(listed, strings.Join(append(path[:last:last], alt), " "))
		}
	}
	var commands []string
	var walk func(prefix string, c *cobra.Command)
	walk = func(prefix string, c *cobra.Command) {
		for _, sub := range c.Commands() {
			switch {
			case sub.Hidden || sub.Name() == "help" || sub.Name() == "completion":
			case sub.HasSubCommands():
				walk(prefix+sub.Name()+" ", sub)
			default:
				commands = append(commands, prefix+sub.Name())
			}
		}
	}
	walk("", rootCommand())
	require.NotEmpty(t, commands)
	slices.Sort(listed)
	slices.Sort(commands)
	assert.Equal(t, commands, listed, "the commands `focal` has, and those the package comment of cmd/focal lists")
	assert.Contains(t, f.Doc.Text(), "FOCAL_*", "it says where configuration comes from")
}
