package alignment

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// evalExpression checks reply against src on a fresh cache with the
// default limits, as an engine would.
func evalExpression(src, reply string, vars map[string]any) string {
	x, err := newExpressions(domain.DefaultPolicyLimits())
	if err != nil {
		panic(err)
	}
	return x.check(context.Background(), src, reply, vars)
}

// The expressions a tenant could use to exhaust the shared process are
// refused when the policy is written, each with a message that says why.
func TestCostlyExpressionsAreRefusedAtCompileTime(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, tt := range []struct{ src, msg string }{
		{`len(repeat(repeat("x", 999999), 999999)) > 0`, "may not use repeat()"},
		{`len(repeat(reply.text, 999999)) > 0`, "may not use repeat()"},
		{`len(join(split(reply.text, ""), "--")) > 3`, "may not use"},
		{`len(1..999999999) > 0`, `operator ".."`},
		{`reply.text matches (reply.text + "Q")`, "constant pattern"},
		{`reply.text matches lower("A+")`, "constant pattern"},
		{`reply.text matches "(?:(?:\\w{30}){30})(?:(?:\\d{30}){30})"`, "more than 2000 instructions"},
		{`len(reply.text + reply.text + reply.text) > 1`, "must not join strings"},
		{`len(map(reply.amounts, # * 2)) > 0`, "may not use map()"},
		{`all(reply.amounts, {# < 100})`, "may not use all()"},
		{`len(filter(1..100000, # > 0)) > 0`, "may not use"},
		{`sum(reply.amounts) > 1`, "may not use sum()"},
		{`toJSON(vars) != ""`, "may not use toJSON()"},
		{`len(string(vars)) > 0`, "may not use string()"},
		{`now().Year() > 2000`, "may not"},
		{`reply.max_amount < 1 && ` + string(make([]byte, 1000)), "at most 1000 bytes"},
		// Lists sharing one value, doubling with each let: == would make
		// 2^40 comparisons of a 700-byte expression.
		{nestedLists(40) + "a40 == a40", "literals may hold only constants"},
		{nestedLists(40) + "max(a40) > 1", "literals may hold only constants"},
		{`[vars.a, vars.a] == [vars.b]`, "literals may hold only constants"},
		{`{"k": vars.a}.k == 1`, "literals may hold only constants"},
	} {
		t.Run(tt.src[:min(len(tt.src), 40)], func(t *testing.T) {
			err := CompileExpression(tt.src, limits)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

// nestedLists is `let a0 = [1, 1]; let a1 = [a0, a0]; …` to an.
func nestedLists(n int) string {
	var b strings.Builder
	b.WriteString("let a0 = [1, 1]; ")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "let a%d = [a%d, a%d]; ", i, i-1, i-1)
	}
	return b.String()
}

// Transition guards are written in the same language, held to the same
// limits.
func TestCostlyGuardsAreRefusedAtCompileTime(t *testing.T) {
	_, err := CompileWhen(nestedLists(40)+"a40 == a40", domain.DefaultPolicyLimits())
	assert.ErrorContains(t, err, "literals may hold only constants")
}

// usefulExpressions are constraints of the kinds agents write, each
// form the language allows at least once.
var usefulExpressions = []string{
	`reply.max_amount <= 500`,
	`reply.max_percentage <= (vars.max_discount ?? 10)`,
	`len(reply.amounts) == 0 || max(reply.amounts) < 100`,
	`not (lower(reply.text) contains "guarantee")`,
	`reply.text matches "(?i)\\brefund\\b" == false`,
	`reply.words < 200 and reply.length < 1200`,
	`vars.tier in ["gold", "silver"] ? reply.max_amount <= 1000 : reply.max_amount <= 100`,
	`upper(trim(reply.text)) startsWith "HELLO" || !(reply.text endsWith "!")`,
	`abs(reply.max_amount - (vars.quote ?? 0)) < 0.01 || round(reply.max_percentage) <= 20`,
	`vars.count + 1 > 3`,
	`vars.code in [-1, 0, 1.5, "x", nil] and {"a": 1}.a == 1`,
}

func TestUsefulExpressionsStillCompile(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, src := range usefulExpressions {
		assert.NoError(t, CompileExpression(src, limits), src)
	}
}

// A + whose operands are known only at run time adds numbers and nothing
// else: joined strings would double with each let, and a few hundred bytes
// of expression could ask for terabytes (40 doublings of a 16-byte
// default, well inside the 1000-byte limit).
func TestUntypedPlusAddsNumbersOnly(t *testing.T) {
	var b strings.Builder
	b.WriteString(`let a0 = (vars.none ?? "xxxxxxxxxxxxxxxx"); `)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "let a%d = a%d + a%d; ", i, i-1, i-1)
	}
	b.WriteString("len(a40) > 0")
	doubling := b.String()
	require.Less(t, len(doubling), domain.DefaultPolicyLimits().ExpressionBytes)
	require.NoError(t, CompileExpression(doubling, domain.DefaultPolicyLimits()), "its types are known only at run time")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	assert.Contains(t, evalExpression(doubling, "hi", map[string]any{}), "+ adds numbers only")
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "no string was grown")

	assert.Contains(t, evalExpression(`len(vars.a + vars.b) == 4`, "hi", map[string]any{"a": "ab", "b": "cd"}), "+ adds numbers only")
	assert.Contains(t, evalExpression(`len(vars.l + vars.l) > 0`, "hi", map[string]any{"l": []any{1, 2}}), "+ adds numbers only")
	assert.Equal(t, "", evalExpression(`vars.count + 1 > 3`, "hi", map[string]any{"count": 5}))
	assert.Equal(t, "", evalExpression(`vars.price + 0.5 == 3.0`, "hi", map[string]any{"price": 2.5}))
	assert.Equal(t, "", evalExpression(`let n = vars.count ?? 0; n + n + 1 == 11`, "hi", map[string]any{"count": 5}))
	assert.Contains(t, evalExpression(`vars.count + 1 > 3`, "hi", map[string]any{"count": 1}), "false")
	// A side known to be a string is refused at import, as before.
	assert.ErrorContains(t, CompileExpression(`len(reply.text + vars.a) > 0`, domain.DefaultPolicyLimits()), "must not join strings")
	// The function + is rewritten to is not one an expression may call.
	assert.ErrorContains(t, CompileExpression(numbersPlus+`(1, 2) == 3`, domain.DefaultPolicyLimits()), "may not call")
}

// After the turn's deadline an expression is not evaluated, and the reply
// counts as broken.
func TestExpressionRespectsTheTurnDeadline(t *testing.T) {
	x, err := newExpressions(domain.DefaultPolicyLimits())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Contains(t, x.check(ctx, `reply.length < 100`, "short", nil), "deadline")
	assert.Equal(t, "", x.check(context.Background(), `reply.length < 100`, "short", nil))
}
