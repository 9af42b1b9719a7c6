package alignment

import (
	"runtime"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// numbersReply is a reply of n amounts, each of which reply.numbers holds.
func numbersReply(n int) string {
	return strings.Repeat("$5 ", n)
}

// What a gap in the checks of the source would let through — the
// builtins that loop, meter their output or build ranges, nested
// predicates, a pattern built at run time — is refused once compiled, by
// what the program holds. Compiled by the library alone, as if every
// check of the source had missed them.
func TestProgramsThatLoopOrGrowAreRefused(t *testing.T) {
	for _, src := range []string{
		`all(reply.numbers, any(reply.numbers, all(reply.numbers, # != 0)))`,
		`len(map(reply.numbers, map(reply.numbers, #))) > 0`,
		`len(filter(reply.numbers, # > 0)) > 0`,
		`reduce(reply.numbers, #acc + #, 0) > 0`,
		`count(reply.numbers, # > 0) > 0`,
		`len(sortBy(reply.numbers, #)) > 0`,
		`len(repeat(reply.text, 1000000)) > 0`,
		`len(concat(reply.numbers, reply.numbers)) > 0`,
		`len(sort(reply.numbers)) > 0`,
		`len(1..1000000) > 0`,
		`reply.text matches reply.text`,
	} {
		prog, err := expr.Compile(src, expr.Env(exprEnv{}), expr.AsBool())
		require.NoError(t, err, src)
		assert.Error(t, boundProgram(prog), src)
	}
}

// Nested predicates are the costliest of them: three any over a reply's
// numbers are n³ steps. Run, a reply of 60 amounts takes 216,000;
// refused, it takes none, and the constraint reports why as a violation.
func TestNestedPredicatesWouldCostTheCubeOfTheReply(t *testing.T) {
	steps := 0
	step := expr.Function("step", func(...any) (any, error) { steps++; return false, nil }, new(func(float64) bool))
	src := `any(reply.numbers, any(reply.numbers, any(reply.numbers, step(#))))`
	reply := numbersReply(60)
	prog, err := expr.Compile(src, expr.Env(exprEnv{}), expr.AsBool(), step)
	require.NoError(t, err)

	var out any
	unbounded := allocated(func() { out, err = vm.Run(prog, exprEnv{Reply: exprReply{Numbers: facts(reply)}}) })
	require.NoError(t, err)
	assert.Equal(t, false, out)
	assert.Equal(t, 60*60*60, steps)
	assert.Greater(t, unbounded, uint64(4<<20), "each step boxes its number")

	assert.Error(t, boundProgram(prog))
	bounded := allocated(func() {
		assert.Contains(t, evalExpression(strings.Replace(src, "step(#)", "# < 0", 1), reply, nil), "may not use any()")
	})
	assert.Less(t, bounded, uint64(1<<20))
	t.Logf("allocated: %d bytes run as the library compiles it, %d refused", unbounded, bounded)
}

func facts(reply string) []float64 { return domain.ExtractReplyFacts(reply).Numbers }

// allocated is what f allocates, in bytes.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The builtins that iterate or build are unknown names to the compiler
// as the language sets it up, whatever the checks of the source say:
// split, join and replace are linear, or worse, in their output, not
// their input.
func TestTheCompilerKnowsOnlyTheLanguagesBuiltins(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, src := range []string{
		`len(split(meta.s, "")) > 0`,
		`len(join(["a"], meta.s)) > 0`,
		`len(replace(meta.s, "", meta.s)) > 0`,
		`len(repeat(meta.s, 9)) > 0`,
	} {
		_, err := expr.Compile(src, whenLanguage.options(limits)...)
		assert.Error(t, err, src)
	}
	// The predicates are not builtins to it: only the program's check
	// refuses them.
	prog, err := expr.Compile(`any(meta.xs, all(meta.xs, # > 0))`, whenLanguage.options(limits)...)
	require.NoError(t, err)
	assert.Error(t, boundProgram(prog))
}

// A program longer than exprMaxSteps is refused, whatever the policy
// limits allow; within the default limits none is near it.
func TestProgramsAreAtMostExprMaxStepsLong(t *testing.T) {
	raised := domain.DefaultPolicyLimits()
	raised.ExpressionBytes, raised.ExpressionNodes = 100_000, 100_000
	long := strings.Repeat("vars.a != nil && ", 300) + "true"
	_, err := CompileWhen(long, raised)
	assert.ErrorContains(t, err, "more than 1000")

	// The densest programs the default limits allow: about two
	// instructions a node.
	limits := domain.DefaultPolicyLimits()
	for _, src := range []string{
		"let x = vars.a; " + strings.Repeat("x + ", 90) + "1 > 0",
		strings.Repeat("vars.a ? vars.b : ", 28) + "true",
		strings.Repeat("vars.a.b ?? ", 33) + "true",
	} {
		prog, err := whenLanguage.compile(src, limits)
		require.NoError(t, err, src)
		assert.Less(t, len(prog.Bytecode), exprMaxSteps/2, src)
	}
}

// Every instruction is at most one pass over what it reads: as many
// calls of lower as the default limits allow, over the
// longest metadata value, allocate about a copy of it each.
func TestEachInstructionIsOnePass(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	calls := limits.ExpressionNodes / 9 // lower(meta.s) == meta.s || is 9 nodes
	g, err := CompileWhen(strings.Repeat("lower(meta.s) == meta.s || ", calls)+"false", limits)
	require.NoError(t, err)
	value := strings.Repeat("Ab", (domain.MaxMetadataBytes-16)/2)
	meta := map[string]any{"s": value}
	perRun := allocated(func() {
		held, err := g.Holds(nil, meta, guardTurn)
		assert.NoError(t, err)
		assert.False(t, held)
	})
	t.Logf("%d calls over %d bytes allocate %d bytes", calls, len(value), perRun)
	assert.LessOrEqual(t, perRun, uint64(calls+2)*uint64(len(value)))
}

// trim's characters to cut would make it cost the product of two values:
// it takes one argument.
func TestTrimTakesOneArgument(t *testing.T) {
	_, err := CompileWhen(`trim(meta.s, meta.cut) == ""`, domain.DefaultPolicyLimits())
	assert.ErrorContains(t, err, "trim takes one argument")
	_, err = CompileWhen(`trim(meta.s) == ""`, domain.DefaultPolicyLimits())
	assert.NoError(t, err)
}

// The expressions of the docs and the demo agent, and the ones
// TestUsefulExpressionsStillCompile keeps, evaluate as the library alone
// evaluates them.
func TestOrdinaryExpressionsEvaluateAsTheLibraryDoes(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	envs := []exprEnv{
		{Reply: replyOf("Hello, that is $250 and 15% off!"), Vars: map[string]any{"max_discount": 20.0, "tier": "gold", "count": 3.0, "quote": 250.0, "code": "x"}},
		{Reply: replyOf("a refund of 30 EUR"), Vars: map[string]any{"tier": "bronze", "count": 1.0, "code": 2.0}},
	}
	for _, src := range append(usefulExpressions,
		`vars.order_id != nil`,
		`vars.reason != nil && vars.reason in ["wrong_size", "damaged"]`,
	) {
		ours, err := compileExpression(src, limits)
		require.NoError(t, err, src)
		library, err := expr.Compile(src, expr.Env(exprEnv{}), expr.AsBool())
		require.NoError(t, err, src)
		for _, env := range envs {
			want, wantErr := vm.Run(library, env)
			got, gotErr := (&vm.VM{MemoryBudget: exprMemoryBudget}).Run(ours, env)
			require.NoError(t, wantErr, src)
			require.NoError(t, gotErr, src)
			assert.Equal(t, want, got, src)
		}
	}
}

func replyOf(text string) exprReply {
	f := domain.ExtractReplyFacts(text)
	return exprReply{Text: f.Text, Length: f.Length, Words: f.Words, Amounts: f.Amounts, Percentages: f.Percentages,
		Numbers: f.Numbers, MaxAmount: f.MaxAmount, MaxPercentage: f.MaxPercent}
}
