package alignment

import (
	"fmt"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"focal/domain"
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

// maxExpressionNodes keeps policy expressions small enough to evaluate in
// microseconds; a constraint needs a comparison or two, not a program.
const maxExpressionNodes = 200

// CompileExpression compiles an expression constraint, type-checked against
// the environment it will run in, so a policy with a broken expression is
// refused when it is written rather than failing turns later.
func CompileExpression(src string) error {
	_, err := compileExpression(src)
	return err
}

func compileExpression(src string) (*vm.Program, error) {
	prog, err := expr.Compile(src, expr.Env(exprEnv{}), expr.AsBool(), expr.MaxNodes(maxExpressionNodes))
	if err != nil {
		return nil, fmt.Errorf("expression does not compile: %w", err)
	}
	return prog, nil
}

// expressions caches compiled programs by source; programs are immutable and
// safe to run concurrently.
var expressions sync.Map // string → *vm.Program

// evalExpression checks reply against src. It fails closed: an expression
// that does not compile or errors at run time counts as broken.
func evalExpression(src, reply string, vars map[string]any) string {
	p, ok := expressions.Load(src)
	if !ok {
		prog, err := compileExpression(src)
		if err != nil {
			return err.Error()
		}
		p, _ = expressions.LoadOrStore(src, prog)
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
	out, err := expr.Run(p.(*vm.Program), env)
	if err != nil {
		return "expression failed: " + err.Error()
	}
	if ok, _ := out.(bool); !ok {
		return "expression is false for this reply"
	}
	return ""
}
