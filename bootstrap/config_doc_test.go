package bootstrap

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"focal/domain"
)

// envVar is one FOCAL_* variable the configuration reads.
type envVar struct {
	name, def string
}

// envVars lists every FOCAL_* variable the configuration reads, with its
// default.
func envVars(t reflect.Type, out *[]envVar) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("env"); tag != "" {
			*out = append(*out, envVar{"FOCAL_" + tag, f.Tag.Get("envDefault")})
		} else if f.Type.Kind() == reflect.Struct {
			envVars(f.Type, out)
		}
	}
}

// groupedPrefixes name rows that list several variables: the first in
// full, the others by suffix.
var groupedPrefixes = []string{"FOCAL_RATE_LIMIT_", "FOCAL_LLM_RETRY_", "FOCAL_TOOLS_RETRY_", "FOCAL_TOOLS_BREAKER_"}

// docRow returns the table row of docs/operations.md that documents v.
func docRow(doc string, v string) (string, bool) {
	short, family := v, v
	for _, prefix := range groupedPrefixes {
		if strings.HasPrefix(v, prefix) {
			short, family = "_"+strings.TrimPrefix(v, prefix), prefix
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		if strings.Contains(first, "`"+v+"`") || strings.Contains(first, "`"+family) && strings.Contains(first, short+"`") {
			return line, true
		}
	}
	return "", false
}

// docs/operations.md is the configuration reference: every variable the
// service reads must be in it, with its default.
func TestEveryVariableIsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	var vars []envVar
	envVars(reflect.TypeFor[Config](), &vars)
	if len(vars) < 40 {
		t.Fatalf("found only %d variables: the walk is broken", len(vars))
	}
	for _, v := range vars {
		row, ok := docRow(doc, v.name)
		if !ok {
			t.Errorf("%s is not in docs/operations.md", v.name)
			continue
		}
		if v.def == "" {
			continue
		}
		cells := strings.Split(row, "|")
		if len(cells) < 3 || !strings.Contains(cells[2], "`"+v.def+"`") {
			t.Errorf("%s defaults to %s, but docs/operations.md says: %s", v.name, v.def, row)
		}
	}
}

// The policy limits table of docs/operations.md lists every limit with its
// default.
func TestEveryPolicyLimitIsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range domain.PolicyLimitTable() {
		row := fmt.Sprintf("| `%s` | `%d` |", l.Name, l.Default)
		if !strings.Contains(string(raw), row) {
			t.Errorf("docs/operations.md has no row %q", row)
		}
	}
}
