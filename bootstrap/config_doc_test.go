package bootstrap

import (
	"os"
	"reflect"
	"strings"
	"testing"
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

// docs/operations.md is the configuration reference: every variable the
// service reads must be in it.
func TestEveryVariableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	envVars(reflect.TypeFor[Config](), &vars)
	if len(vars) < 40 {
		t.Fatalf("found only %d variables: the walk is broken", len(vars))
	}
	for _, v := range vars {
		short := v
		// Grouped rows name the first variable in full and the others by suffix.
		for _, prefix := range []string{"FOCAL_RATE_LIMIT_", "FOCAL_LLM_RETRY_", "FOCAL_TOOLS_RETRY_", "FOCAL_TOOLS_BREAKER_"} {
			if strings.HasPrefix(v, prefix) {
				short = "_" + strings.TrimPrefix(v, prefix)
			}
		}
		if !strings.Contains(string(doc), "`"+v+"`") && !strings.Contains(string(doc), short+"`") {
			t.Errorf("%s is not in docs/operations.md", v)
		}
	}
}
