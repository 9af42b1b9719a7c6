package alignment

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

	"focal/domain"
)

// Expressions are written by tenants and run inside turns of a process
// shared with every other tenant, so the language is cut down to what a
// constraint or a transition guard needs and cannot make the evaluation
// allocate or loop without bound: no loops, closures or methods, no
// ranges, no string concatenation, and only builtins and functions whose
// cost is linear in their input. What is left runs its bytecode straight
// through once, so an evaluation costs at most the program's size times
// the size of the values it reads; boundProgram holds every compiled
// program to that, and its size to exprMaxSteps.
var (
	// exprBuiltins are the builtins an expression may call.
	exprBuiltins = []string{"len", "lower", "upper", "trim", "abs", "min", "max", "round", "floor", "ceil"}
	// exprOperators are the binary operators an expression may use.
	exprOperators = []string{"==", "!=", "<", ">", "<=", ">=", "and", "or", "&&", "||",
		"+", "-", "*", "/", "%", "**", "^", "in", "contains", "startsWith", "endsWith", "matches", "??"}
)

// exprMemoryBudget bounds what the VM may allocate for literals in one run
// (counted in elements). Neither constraints nor guards need any to speak of.
const exprMemoryBudget = 10_000

// exprFunction is a function a language adds to the builtins; it must
// cost no more than linear time in its arguments.
type exprFunction struct {
	name  string
	fn    func(params ...any) (any, error)
	types []any // its signatures, as expr.Function takes them
}

// exprLanguage is the cut-down expr-lang over one environment, with the
// functions it adds. Constraint expressions and transition guards are
// both written in it, so both are held to the same limits.
type exprLanguage struct {
	env       any
	functions []exprFunction
}

// compile checks src against the language and the limits and type-checks
// it against the environment; the program evaluates to a boolean.
func (l exprLanguage) compile(src string, limits domain.PolicyLimits) (*vm.Program, error) {
	if len(src) > limits.ExpressionBytes {
		return nil, fmt.Errorf("expression must be at most %d bytes (policy limit expression_bytes)", limits.ExpressionBytes)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("expression does not compile: %w", err)
	}
	shape := &exprShape{limits: limits, allowed: l.allowedCalls()}
	ast.Walk(&tree.Node, shape)
	if shape.err != nil {
		return nil, shape.err
	}
	if shape.nodes > limits.ExpressionNodes {
		return nil, fmt.Errorf("expression has %d syntax nodes, more than %d (policy limit expression_nodes)", shape.nodes, limits.ExpressionNodes)
	}
	prog, err := expr.Compile(src, l.options(limits)...)
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
	if err := boundProgram(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// options are the compiler's options for the language: its environment,
// and only the builtins and functions it allows, so the compiler itself
// refuses any other (a builtin it does not know is an unknown name).
func (l exprLanguage) options(limits domain.PolicyLimits) []expr.Option {
	opts := []expr.Option{expr.Env(l.env), expr.AsBool(), expr.MaxNodes(uint(limits.ExpressionNodes)), expr.DisableAllBuiltins()}
	for _, name := range exprBuiltins {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	for _, f := range l.functions {
		opts = append(opts, expr.Function(f.name, f.fn, f.types...))
	}
	return append(opts, expr.Function(numbersPlus, addNumbers), expr.Patch(untypedPlus{}))
}

// allowedCalls are the names an expression may call: the builtins and
// the language's functions.
func (l exprLanguage) allowedCalls() []string {
	names := slices.Clone(exprBuiltins)
	for _, f := range l.functions {
		names = append(names, f.name)
	}
	return names
}

// exprShape walks a parsed expression and keeps the outermost construct
// the language leaves out (the walk visits children first, so the last
// one found).
type exprShape struct {
	limits  domain.PolicyLimits
	allowed []string
	nodes   int
	err     error
}

// Visit implements ast.Visitor.
func (s *exprShape) Visit(node *ast.Node) {
	s.nodes++
	switch n := (*node).(type) {
	case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.ConstantNode,
		*ast.IdentifierNode, *ast.ChainNode, *ast.SliceNode, *ast.ConditionalNode,
		*ast.VariableDeclaratorNode, *ast.SequenceNode, *ast.UnaryNode:
	case *ast.ArrayNode:
		s.literalsOnly(n.Nodes...)
	case *ast.PairNode:
		s.literalsOnly(n.Value)
	case *ast.MapNode:
	case *ast.MemberNode:
		if n.Method {
			s.err = fmt.Errorf("expression must not call methods")
		}
	case *ast.BuiltinNode:
		s.builtin(n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); !ok || !slices.Contains(s.allowed, id.Value) {
			s.err = fmt.Errorf("expression may not call functions other than %s", strings.Join(s.allowed, ", "))
		}
	case *ast.BinaryNode:
		s.binary(n)
	case *ast.PredicateNode, *ast.PointerNode:
		s.err = fmt.Errorf("expression may not use closures or # (no loops)")
	default:
		s.err = fmt.Errorf("expression may not use %s", strings.TrimPrefix(reflect.TypeOf(n).String(), "*ast."))
	}
}

// literalsOnly refuses a list or map literal holding anything but
// constants. Built of names, literals could share one value many times
// over (let a1 = [a0, a0]; let a2 = [a1, a1] …), small in memory, while
// ==, in, min and max walk it as the tree it stands for: a few hundred
// bytes of expression asking for 2^40 comparisons.
func (s *exprShape) literalsOnly(elements ...ast.Node) {
	for _, e := range elements {
		if u, ok := e.(*ast.UnaryNode); ok {
			e = u.Node
		}
		switch e.(type) {
		case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.ConstantNode:
		default:
			s.err = fmt.Errorf("expression: list and map literals may hold only constants")
			return
		}
	}
}

func (s *exprShape) builtin(n *ast.BuiltinNode) {
	switch {
	case !slices.Contains(s.allowed, n.Name):
		s.err = fmt.Errorf("expression may not use %s(): the functions allowed are %s", n.Name, strings.Join(s.allowed, ", "))
	case n.Name == "trim" && len(n.Arguments) > 1:
		// Its second argument, the characters to cut, is searched for each
		// character cut: two long metadata values would make one call cost
		// their product, not a pass over one of them.
		s.err = fmt.Errorf("expression: trim takes one argument (it cuts white space)")
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

// numbersPlus is the function untypedPlus calls; not one an expression
// may name (allowedCalls leaves it out).
const numbersPlus = "focal_numbers_plus"

// untypedPlus makes a + whose operands' types are known only at run time
// (variables, ?? and let) add numbers alone: joined there, strings would
// escape exprConcat's check, and with let each join may double what the
// last one made — a few hundred bytes of expression asking for terabytes.
// A + of known types, or with a side known to be a string or a list, is
// left as it is: numbers add, and strings or lists are refused by
// exprConcat once the program is compiled.
type untypedPlus struct{}

// Visit implements ast.Visitor.
func (untypedPlus) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BinaryNode)
	if !ok || n.Operator != "+" || !untyped(n.Left) && !untyped(n.Right) || joins(n.Left) || joins(n.Right) {
		return
	}
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: numbersPlus}, Arguments: []ast.Node{n.Left, n.Right}})
}

// joins reports whether n is known to be a string or a list, which
// exprConcat refuses at import.
func joins(n ast.Node) bool {
	t := n.Type()
	return t != nil && (t.Kind() == reflect.String || t.Kind() == reflect.Slice)
}

// untyped reports whether n's type is known only at run time.
func untyped(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface
}

// addNumbers is + for two numbers, as expr adds them; anything else is an
// error, which the constraint counts as broken and a guard as false.
func addNumbers(params ...any) (any, error) {
	for _, p := range params {
		switch reflect.ValueOf(p).Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
			reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			return nil, fmt.Errorf("+ adds numbers only, not %T: compare strings, or use contains, startsWith or endsWith", p)
		}
	}
	return runtime.Add(params[0], params[1]), nil
}
