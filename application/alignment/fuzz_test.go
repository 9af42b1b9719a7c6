package alignment

import (
	"testing"

	"focal/domain"
)

// Any expression against any reply evaluates or fails closed; it never
// panics and never passes by accident of an error.
func FuzzExpression(f *testing.F) {
	f.Add("reply.max_amount <= 100", "That will be $250.", 10.0)
	f.Add("reply.length < 20 && vars.limit > 3", "short", 5.0)
	f.Add("len(reply.amounts) == 0", "€1,200.50 and 30 EUR", 0.0)
	f.Add("1 +", "", 0.0)
	f.Fuzz(func(t *testing.T, src, reply string, limit float64) {
		detail := evalExpression(src, reply, map[string]any{"limit": limit})
		if detail == "" {
			// Passing must mean the expression compiled and was true.
			prog, err := compileExpression(src, domain.DefaultPolicyLimits())
			if err != nil || prog == nil {
				t.Fatalf("expression %q passed without compiling", src)
			}
		}
	})
}
