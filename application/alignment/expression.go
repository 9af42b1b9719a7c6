package alignment

import (
	"context"
	"time"

	"github.com/expr-lang/expr/vm"
	lru "github.com/hashicorp/golang-lru/v2"

	"focal/domain"
	"focal/ports"
)

// exprEnv is what an expression constraint sees: facts read off the reply
// and the session's variables. An expression is satisfied when it is true.
type exprEnv struct {
	Reply exprReply      `expr:"reply"`
	Vars  map[string]any `expr:"vars"`
}

type exprReply struct {
	Text          string    `expr:"text"`
	Length        int       `expr:"length"`
	Words         int       `expr:"words"`
	Amounts       []float64 `expr:"amounts"`
	Percentages   []float64 `expr:"percentages"`
	Numbers       []float64 `expr:"numbers"`
	MaxAmount     float64   `expr:"max_amount"`
	MaxPercentage float64   `expr:"max_percentage"`
}

// constraintLanguage is what expression constraints are written in: the
// shared cut-down language over the reply's facts and the variables.
var constraintLanguage = exprLanguage{env: exprEnv{}}

// CompileExpression checks an expression constraint against the language
// and the limits, and type-checks it against the environment it will run
// in, so a policy with a broken or too costly expression is refused when
// it is written rather than failing turns later.
func CompileExpression(src string, limits domain.PolicyLimits) error {
	_, err := compileExpression(src, limits)
	return err
}

func compileExpression(src string, limits domain.PolicyLimits) (*vm.Program, error) {
	return constraintLanguage.compile(src, limits)
}

// expressionCacheSize bounds the compiled expressions an engine keeps; one
// that falls out is compiled again on its next use.
const expressionCacheSize = 4096

// expressions is an engine's cache of compiled expression programs by
// source; programs are immutable and safe to run concurrently.
type expressions struct {
	limits   domain.PolicyLimits
	programs *lru.Cache[string, *vm.Program]
	guards   *lru.Cache[string, *Guard] // transition guards, in their own language
}

func newExpressions(limits domain.PolicyLimits) (*expressions, error) {
	programs, err := lru.New[string, *vm.Program](expressionCacheSize)
	if err != nil {
		return nil, err
	}
	guards, err := lru.New[string, *Guard](expressionCacheSize)
	if err != nil {
		return nil, err
	}
	return &expressions{limits: limits, programs: programs, guards: guards}, nil
}

// guard is src compiled, from the cache or compiled into it; nil, with
// why, when it does not compile.
func (x *expressions) guard(src string) (*Guard, string) {
	g, ok := x.guards.Get(src)
	if !ok {
		var err error
		if g, err = CompileWhen(src, x.limits); err != nil {
			return nil, err.Error()
		}
		x.guards.Add(src, g)
	}
	return g, ""
}

// turnGuardHolds evaluates a transition's guard over a turn's variables
// as collected (d.collected). It fails closed: a guard that does not
// compile, or errors, is false. A presence test reads the one variable it
// names (d.collectedValue); any other guard gathers them all.
func (x *expressions) turnGuardHolds(src string, d *decided, in ports.TurnInput) bool {
	g, _ := x.guard(src)
	switch {
	case g == nil:
		return false
	case g.presence != nil:
		return g.presence.holdsWith(d.collectedValue(in, g.presence.name))
	}
	return g.holdsOver(d.collected(in), in.Metadata, d.now)
}

// holdsOver is Holds failing closed: false when the guard errors.
func (g *Guard) holdsOver(vars, meta map[string]any, now time.Time) bool {
	held, err := g.Holds(vars, meta, now)
	return err == nil && held
}

// check evaluates src against reply and vars and returns a violation
// detail, or "" when the expression is true. It fails closed: an
// expression that does not compile, errors at run time, or is reached
// after the turn's deadline counts as broken.
func (x *expressions) check(ctx context.Context, src, reply string, vars map[string]any) string {
	prog, ok := x.programs.Get(src)
	if !ok {
		var err error
		if prog, err = compileExpression(src, x.limits); err != nil {
			return err.Error()
		}
		x.programs.Add(src, prog)
	}
	if ctx.Err() != nil {
		return "expression not evaluated: the turn's deadline passed"
	}
	f := domain.ExtractReplyFacts(reply)
	env := exprEnv{
		Reply: exprReply{
			Text: f.Text, Length: f.Length, Words: f.Words,
			Amounts: f.Amounts, Percentages: f.Percentages, Numbers: f.Numbers,
			MaxAmount: f.MaxAmount, MaxPercentage: f.MaxPercent,
		},
		Vars: vars,
	}
	machine := vm.VM{MemoryBudget: exprMemoryBudget}
	out, err := machine.Run(prog, env)
	if err != nil {
		return "expression failed: " + err.Error()
	}
	if ok, _ := out.(bool); !ok {
		return "expression is false for this reply"
	}
	return ""
}
