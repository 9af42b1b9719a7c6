package bootstrap

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"focal/domain"
)

// envVars lists every FOCAL_* variable the configuration reads.
func envVars(t reflect.Type, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("env"); tag != "" {
			*out = append(*out, "FOCAL_"+tag)
		} else if f.Type.Kind() == reflect.Struct {
			envVars(f.Type, out)
		}
	}
}

// groupedPrefixes name rows that list several variables: the first in
// full, the others by suffix.
var groupedPrefixes = []string{"FOCAL_RATE_LIMIT_", "FOCAL_LLM_RETRY_", "FOCAL_TOOLS_RETRY_", "FOCAL_TOOLS_BREAKER_"}

// documentingRow returns the table row of docs/operations.md that documents v.
func documentingRow(doc string, v string) (string, bool) {
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
// service reads must be in it (TestDocumentedDefaultsAreTheDefaults checks
// the defaults it states).
func TestEveryVariableIsDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	var vars []string
	envVars(reflect.TypeFor[Config](), &vars)
	if len(vars) < 40 {
		t.Fatalf("found only %d variables: the walk is broken", len(vars))
	}
	for _, v := range vars {
		if _, ok := documentingRow(doc, v); !ok {
			t.Errorf("%s is not in docs/operations.md", v)
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

// envFields maps every FOCAL_* variable to the field of cfg it sets.
func envFields(v reflect.Value, out map[string]reflect.Value) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if tag := f.Tag.Get("env"); tag != "" {
			out["FOCAL_"+tag] = v.Field(i)
		} else if f.Type.Kind() == reflect.Struct {
			envFields(v.Field(i), out)
		}
	}
}

var (
	docRow     = regexp.MustCompile("^\\| (`FOCAL_[^|]*) \\| ([^|]*) \\|")
	docLiteral = regexp.MustCompile("`([^`]*)`")
)

// documentedDefaults reads the default column of the configuration tables
// of a document: variable → its default as written, or "" when the row
// gives none (— or a description such as "provider's"). A grouped row
// names its first variable in full and the others in full or by suffix,
// and gives one default for all or one each.
func documentedDefaults(t *testing.T, path string) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var names []string
		for _, lit := range docLiteral.FindAllStringSubmatch(m[1], -1) {
			name := lit[1]
			if strings.HasPrefix(name, "_") && len(names) > 0 {
				first := names[0]
				name = first[:strings.LastIndex(first, "_")] + name
			}
			names = append(names, name)
		}
		cell := strings.TrimSpace(m[2])
		var values []string
		if rest := strings.Trim(docLiteral.ReplaceAllString(cell, ""), ",/ "); rest == "" {
			for _, lit := range docLiteral.FindAllStringSubmatch(cell, -1) {
				values = append(values, lit[1])
			}
		}
		for i, name := range names {
			switch {
			case len(values) == len(names):
				out[name] = values[i]
			case len(values) == 1:
				out[name] = values[0]
			case len(values) == 0:
				out[name] = ""
			default:
				t.Errorf("%s: the row of %s gives %d defaults for %d variables", path, names[0], len(values), len(names))
			}
		}
	}
	return out
}

// Every default the configuration tables state (docs/operations.md, all of
// them; the README, the most used) is the one the service uses: the
// configuration loaded from an environment that sets nothing but the
// required secret has exactly the documented value in each field, and a
// variable documented without a default is empty.
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	secret := strings.Repeat("s", 32)
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": secret})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]reflect.Value{}
	envFields(reflect.ValueOf(cfg), fields)
	for _, path := range []string{"../docs/operations.md", "../README.md"} {
		documented := documentedDefaults(t, path)
		if path == "../docs/operations.md" && len(documented) < len(fields) {
			t.Errorf("%s documents %d variables, the configuration reads %d", path, len(documented), len(fields))
		}
		if len(documented) < 10 {
			t.Errorf("%s: only %d variables found: the table parser is broken", path, len(documented))
		}
		for name, want := range documented {
			checkDefault(t, path, name, want, fields)
		}
	}
}

// checkDefault compares one documented default with the loaded field.
func checkDefault(t *testing.T, path, name, want string, fields map[string]reflect.Value) {
	t.Helper()
	field, ok := fields[name]
	switch {
	case !ok:
		t.Errorf("%s documents %s, which the configuration does not read", path, name)
		return
	case name == "FOCAL_JWT_SECRET":
		return // set by the test: there is no default
	case want == "":
		if !field.IsZero() {
			t.Errorf("%s: %s gives no default, the service defaults to %v", name, path, field.Interface())
		}
		return
	}
	if same, err := sameValue(field, want); err != nil {
		t.Errorf("%s: %s: documented default %q: %v", path, name, want, err)
	} else if !same {
		t.Errorf("%s: %s says the default is %q, the service uses %v", name, path, want, field.Interface())
	}
}

// sameValue reports whether field holds text read as the field's type.
func sameValue(field reflect.Value, text string) (bool, error) {
	if field.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(text)
		return time.Duration(field.Int()) == d, err
	}
	switch field.Kind() {
	case reflect.String:
		return field.String() == text, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, 64)
		return field.Int() == n, err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(text, 10, 64)
		return field.Uint() == n, err
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		return field.Float() == f, err
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		return field.Bool() == b, err
	}
	return false, fmt.Errorf("a %s field cannot be compared with a documented default", field.Type())
}

// proseDefault is a variable's default given in passing, in prose:
// "`FOCAL_IDEMPOTENCY_HOLD` (10 s)".
var proseDefault = regexp.MustCompile("`(FOCAL_[A-Z0-9_]+)` \\(([0-9][^)]*)\\)")

// proseUnits turns the prose's units into Go's duration units.
var proseUnits = strings.NewReplacer(" minutes", "m", " minute", "m", " hours", "h", " hour", "h", " h", "h", " ms", "ms", " s", "s")

// The pages besides the configuration reference repeat some defaults where
// they explain a behaviour: each repetition is the default too, and so are
// the tiers' rate limits api.md lists.
func TestDefaultsGivenInProseAreTheDefaults(t *testing.T) {
	cfg, err := LoadConfigEnv("", map[string]string{"FOCAL_JWT_SECRET": strings.Repeat("s", 32)})
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]reflect.Value{}
	envFields(reflect.ValueOf(cfg), fields)
	found := 0
	for _, path := range []string{"../docs/api.md", "../docs/architecture.md", "../docs/storage.md", "../docs/operations.md",
		"../docs/agent-bundle.md", "../README.md"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range proseDefault.FindAllStringSubmatch(string(raw), -1) {
			found++
			checkDefault(t, path, m[1], proseUnits.Replace(m[2]), fields)
		}
	}
	if found < 5 {
		t.Errorf("only %d defaults found in prose: the pattern is broken", found)
	}
	raw, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	tiers := regexp.MustCompile(`free (\d+), pro (\d+), enterprise (\d+)`).FindStringSubmatch(string(raw))
	if tiers == nil {
		t.Fatal("api.md no longer lists the tiers' limits as the test reads them")
	}
	for i, name := range []string{"FOCAL_RATE_LIMIT_FREE", "FOCAL_RATE_LIMIT_PRO", "FOCAL_RATE_LIMIT_ENTERPRISE"} {
		checkDefault(t, "../docs/api.md", name, tiers[i+1], fields)
	}
}
