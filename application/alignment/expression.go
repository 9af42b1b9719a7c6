package alignment

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	lru "github.com/hashicorp/golang-lru/v2"

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

// Expressions are written by tenants and run inside turns of a process
// shared with every other tenant, so the language is cut down to what a
// constraint needs and cannot make the evaluation allocate or loop without
// bound: no loops, closures or calls, no ranges, no string concatenation,
// and only builtins whose cost is linear in their input. What is left runs
// its bytecode straight through once, so an evaluation costs at most the
// program's size times the size of the reply and variables it reads.
var (
	// exprBuiltins are the builtins an expression may call.
	exprBuiltins = []string{"len", "lower", "upper", "trim", "abs", "min", "max", "round", "floor", "ceil"}
	// exprOperators are the binary operators an expression may use.
	exprOperators = []string{"==", "!=", "<", ">", "<=", ">=", "and", "or", "&&", "||",
		"+", "-", "*", "/", "%", "**", "^", "in", "contains", "startsWith", "endsWith", "matches", "??"}
)

// exprMemoryBudget bounds what the VM may allocate for literals in one run
// (counted in elements). A constraint needs none to speak of.
const exprMemoryBudget = 10_000

// CompileExpression checks an expression constraint against the language
// above and the limits, and type-checks it against the environment it will
// run in, so a policy with a broken or too costly expression is refused
// when it is written rather than failing turns later.
func CompileExpression(src string, limits domain.PolicyLimits) error {
	_, err := compileExpression(src, limits)
	return err
}

func compileExpression(src string, limits domain.PolicyLimits) (*vm.Program, error) {
	if len(src) > limits.ExpressionBytes {
		return nil, fmt.Errorf("expression must be at most %d bytes (policy limit expression_bytes)", limits.ExpressionBytes)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("expression does not compile: %w", err)
	}
	shape := &exprShape{limits: limits}
	ast.Walk(&tree.Node, shape)
	if shape.err != nil {
		return nil, shape.err
	}
	if shape.nodes > limits.ExpressionNodes {
		return nil, fmt.Errorf("expression has %d syntax nodes, more than %d (policy limit expression_nodes)", shape.nodes, limits.ExpressionNodes)
	}
	opts := []expr.Option{expr.Env(exprEnv{}), expr.AsBool(), expr.MaxNodes(uint(limits.ExpressionNodes)), expr.DisableAllBuiltins()}
	for _, name := range exprBuiltins {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, fmt.Errorf("expression does not compile: %w", err)
	}
	// Types are known only now: refuse strings joined with +, which is how
	// an expression would grow a string.
	concat := &exprConcat{}
	node := prog.Node()
	ast.Walk(&node, concat)
	if concat.found {
		return nil, fmt.Errorf("expression must not join strings with +: compare them, or use contains, startsWith or endsWith")
	}
	return prog, nil
}

// exprShape walks a parsed expression and keeps the outermost construct
// the language above leaves out (the walk visits children first, so the
// last one found).
type exprShape struct {
	limits domain.PolicyLimits
	nodes  int
	err    error
}

// Visit implements ast.Visitor.
func (s *exprShape) Visit(node *ast.Node) {
	s.nodes++
	switch n := (*node).(type) {
	case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.ConstantNode,
		*ast.IdentifierNode, *ast.ChainNode, *ast.SliceNode, *ast.ConditionalNode, *ast.ArrayNode, *ast.MapNode,
		*ast.PairNode, *ast.VariableDeclaratorNode, *ast.SequenceNode, *ast.UnaryNode:
	case *ast.MemberNode:
		if n.Method {
			s.err = fmt.Errorf("expression must not call methods")
		}
	case *ast.BuiltinNode:
		if !slices.Contains(exprBuiltins, n.Name) {
			s.err = fmt.Errorf("expression may not use %s(): the functions allowed are %s", n.Name, strings.Join(exprBuiltins, ", "))
		}
	case *ast.CallNode:
		s.err = fmt.Errorf("expression may not call functions: the functions allowed are %s", strings.Join(exprBuiltins, ", "))
	case *ast.BinaryNode:
		s.binary(n)
	case *ast.PredicateNode, *ast.PointerNode:
		s.err = fmt.Errorf("expression may not use closures or # (no loops)")
	default:
		s.err = fmt.Errorf("expression may not use %s", strings.TrimPrefix(reflect.TypeOf(n).String(), "*ast."))
	}
}

func (s *exprShape) binary(n *ast.BinaryNode) {
	if !slices.Contains(exprOperators, n.Operator) {
		s.err = fmt.Errorf("expression may not use the operator %q", n.Operator)
		return
	}
	if n.Operator != "matches" {
		return
	}
	pattern, ok := n.Right.(*ast.StringNode)
	if !ok {
		s.err = fmt.Errorf("expression: the right side of matches must be a constant pattern in quotes")
		return
	}
	if _, _, err := domain.MeasurePattern(pattern.Value, s.limits.PatternBytes, s.limits.PatternProgram); err != nil {
		s.err = fmt.Errorf("expression: the pattern of matches %w", err)
	}
}

// exprConcat finds a + applied to strings in a type-checked expression.
type exprConcat struct{ found bool }

// Visit implements ast.Visitor.
func (c *exprConcat) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BinaryNode)
	if !ok || n.Operator != "+" {
		return
	}
	for _, side := range []ast.Node{n.Left, n.Right} {
		if t := side.Type(); t != nil && (t.Kind() == reflect.String || t.Kind() == reflect.Slice) {
			c.found = true
		}
	}
}

// expressionCacheSize bounds the compiled expressions an engine keeps; one
// that falls out is compiled again on its next use.
const expressionCacheSize = 4096

// expressions is an engine's cache of compiled expression programs by
// source; programs are immutable and safe to run concurrently.
type expressions struct {
	limits   domain.PolicyLimits
	programs *lru.Cache[string, *vm.Program]
}

func newExpressions(limits domain.PolicyLimits) (*expressions, error) {
	programs, err := lru.New[string, *vm.Program](expressionCacheSize)
	if err != nil {
		return nil, err
	}
	return &expressions{limits: limits, programs: programs}, nil
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
