// Package architecture checks the hexagon's dependency direction
// (docs/architecture.md):
// domain ← ports ← application ← adapters ← bootstrap ← cmd. It fails the
// build when a package imports against it.
package architecture

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "focal"

// layer names the ring of a package of this module.
func layer(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// allowedInner lists, per ring, the rings of this module it may import.
var allowedInner = map[string][]string{
	"domain":      {"domain"},
	"ports":       {"domain", "ports"},
	"application": {"domain", "ports", "application"},
	"adapters":    {"domain", "ports", "application", "adapters"},
	"bootstrap":   {"domain", "ports", "application", "adapters", "bootstrap"},
	"cmd":         {"domain", "ports", "application", "adapters", "bootstrap"},
}

// thirdPartyAllowed lists, for the inner rings, the only modules outside
// the standard library they may use: the domain stays pure, and the core
// never reaches for an HTTP framework, a database driver or a model SDK.
// The domain's one exception beside uuid is x/sys/cpu: asking the CPU
// which vector instructions it has (the matcher's margins kernel) is no
// infrastructure, and CPUID is not the domain's to read by hand.
var thirdPartyAllowed = map[string][]string{
	"domain": {"github.com/google/uuid", "golang.org/x/sys/cpu"},
	"ports":  {},
	"application": {
		"github.com/google/uuid", "github.com/expr-lang/expr", "github.com/hashicorp/golang-lru/v2",
		"golang.org/x/sync", "gopkg.in/yaml.v3", "github.com/cenkalti/backoff/v5",
	},
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

// listPackages parses the imports of every non-test Go file of the module.
// It reads the files itself (rather than running go list) so that the test
// cache notices every edit and the check is never skipped as cached.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	byDir := map[string]map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // a nested module, not part of this one
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if byDir[dir] == nil {
			byDir[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			byDir[dir][strings.Trim(imp.Path.Value, `"`)] = true
		}
		return nil
	})
	require.NoError(t, err)
	var pkgs []goPackage
	for dir, imports := range byDir {
		rel, err := filepath.Rel(root, dir)
		require.NoError(t, err)
		p := goPackage{ImportPath: module}
		if rel != "." {
			p.ImportPath = module + "/" + filepath.ToSlash(rel)
		}
		for imp := range imports {
			p.Imports = append(p.Imports, imp)
		}
		pkgs = append(pkgs, p)
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

func isStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func TestDependenciesPointInward(t *testing.T) {
	for _, p := range listPackages(t) {
		from := layer(p.ImportPath)
		allowed, ruled := allowedInner[from]
		if !ruled {
			continue // test/ and examples/ may use anything
		}
		for _, imp := range p.Imports {
			switch {
			case imp == module || strings.HasPrefix(imp, module+"/"):
				to := layer(imp)
				ok := false
				for _, a := range allowed {
					ok = ok || a == to
				}
				if !ok {
					t.Errorf("%s (%s) imports %s (%s): dependencies must point inward", p.ImportPath, from, imp, to)
				}
			case isStandard(imp):
			default:
				third, limited := thirdPartyAllowed[from]
				if !limited {
					continue
				}
				ok := false
				for _, m := range third {
					ok = ok || imp == m || strings.HasPrefix(imp, m+"/")
				}
				if !ok {
					t.Errorf("%s (%s) imports %s: only the standard library and %v are allowed there", p.ImportPath, from, imp, third)
				}
			}
		}
	}
}

// The rule table itself must cover every top-level package, so a new ring
// cannot slip past the check.
func TestEveryPackageHasARing(t *testing.T) {
	known := map[string]bool{"test": true, "examples": true}
	for ring := range allowedInner {
		known[ring] = true
	}
	for _, p := range listPackages(t) {
		if !known[layer(p.ImportPath)] {
			t.Errorf("package %s is in no ring of the hexagon; add it to the rules", p.ImportPath)
		}
	}
}

// TestDocumentedImportsAreTheAllowedOnes keeps the architecture page's
// word on what the inner rings may import true: each module named in a
// ring's row (its last column, besides the rings) is one thirdPartyAllowed
// lets it use, and each one it lets it use is named there.
func TestDocumentedImportsAreTheAllowedOnes(t *testing.T) {
	page, err := os.ReadFile("../../docs/architecture.md")
	require.NoError(t, err)
	for ring, allowed := range thirdPartyAllowed {
		var row string
		for line := range strings.Lines(string(page)) {
			if strings.HasPrefix(line, "| `"+ring+"` |") {
				row = line
			}
		}
		require.NotEmpty(t, row, "docs/architecture.md has no row for %s", ring)
		cells := strings.Split(strings.Trim(strings.TrimSpace(row), "|"), "|")
		named := strings.Split(cells[len(cells)-1], "`")
		var documented []string
		for i := 1; i < len(named); i += 2 {
			if _, isRing := thirdPartyAllowed[named[i]]; !isRing {
				documented = append(documented, named[i])
			}
		}
		for _, name := range documented {
			found := false
			for _, mod := range allowed {
				found = found || strings.HasSuffix(mod, "/"+name)
			}
			require.Truef(t, found, "the page names %q, which %s may not import", name, ring)
		}
		for _, mod := range allowed {
			found := false
			for _, name := range documented {
				found = found || strings.HasSuffix(mod, "/"+name)
			}
			require.Truef(t, found, "%s may import %s, which the page does not name", ring, mod)
		}
	}
}

// TestEveryAdapterIsNamedWhereTheRepoIsDescribed keeps the two places
// that list the adapters (the architecture page's adapters row and the
// README's layout) whole: each top-level package under adapters/ is named
// in both.
func TestEveryAdapterIsNamedWhereTheRepoIsDescribed(t *testing.T) {
	entries, err := os.ReadDir("../../adapters")
	require.NoError(t, err)
	var adapters []string
	for _, e := range entries {
		if e.IsDir() {
			adapters = append(adapters, e.Name())
		}
	}
	words := func(line string) map[string]bool {
		set := map[string]bool{}
		for _, w := range strings.FieldsFunc(line, func(r rune) bool {
			return !(r >= 'a' && r <= 'z')
		}) {
			set[w] = true
		}
		return set
	}
	for file, prefix := range map[string]string{"docs/architecture.md": "| `adapters` |", "README.md": "adapters/ "} {
		page, err := os.ReadFile("../../" + file)
		require.NoError(t, err)
		var row string
		for line := range strings.Lines(string(page)) {
			if strings.HasPrefix(line, prefix) {
				row = line
			}
		}
		require.NotEmpty(t, row, "%s has no line starting %q", file, prefix)
		if file == "docs/architecture.md" {
			cells := strings.Split(row, "|")
			row = cells[2] // the packages, not what they may import
		}
		named := words(row)
		for _, a := range adapters {
			assert.Truef(t, named[a], "%s does not name adapters/%s", file, a)
		}
	}
}
