package alignment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/operations.md's memory bounds table states these numbers; the
// tests of each cache check that it holds to its constant, this that the
// constants are the numbers stated.
func TestOperationsDocStatesTheEngineCaches(t *testing.T) {
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"compiled policies (versions)", compiledCacheSize, 512},
		{"compiled policies (bytes)", compiledCacheBytes, 512 << 20},
		{"estimated bytes per byte of policy text", compiledPerTextByte, 40},
		{"policies compiled at once", compileSlots, 2},
		{"policies compiled for turn records (versions)", recordCacheSize, 8},
		{"policies compiled for turn records (bytes)", recordCacheBytes, 64 << 20},
		{"compiled expression programs", expressionCacheSize, 4096},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, operations.md says %d", c.what, c.got, c.want)
		}
	}
}

// docs/agent-bundle.md states what one evaluation of an expression may
// do; this keeps the numbers it states the ones the code holds to.
func TestAgentBundleDocStatesTheExpressionBounds(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "agent-bundle.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	for _, c := range []struct {
		what, stated string
		got, want    int
	}{
		{"instructions of a program", "at most 1,000 instructions", exprMaxSteps, 1_000},
		{"elements of the literals a run builds", "hold at most 10,000 elements", exprMemoryBudget, 10_000},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, agent-bundle.md says %d", c.what, c.got, c.want)
		}
		if !strings.Contains(text, c.stated) {
			t.Errorf("agent-bundle.md no longer says %q (%s)", c.stated, c.what)
		}
	}
}
