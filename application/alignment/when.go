package alignment

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"focal/domain"
)

// whenEnv is what a transition's guard sees: the session's variables (the
// built-ins among them), the request's metadata, and the turn's date.
type whenEnv struct {
	Vars  map[string]any `expr:"vars"`
	Meta  map[string]any `expr:"meta"`
	Today string         `expr:"today"`
}

// whenLanguage is the constraint language over whenEnv, plus date
// arithmetic for flows that care how long ago something happened
// ("days_between(vars.purchase_date, today) <= 30").
var whenLanguage = exprLanguage{env: whenEnv{}, functions: []exprFunction{
	{name: "days_between", fn: daysBetween, types: []any{new(func(from, to string) int)}},
}}

// daysBetween is the number of days from one YYYY-MM-DD date to another,
// negative when the second is earlier.
func daysBetween(params ...any) (any, error) {
	var days [2]time.Time
	for i, p := range params {
		s, ok := p.(string)
		if !ok || len(s) > len(domain.DateLayout) {
			return nil, fmt.Errorf("days_between takes dates written YYYY-MM-DD")
		}
		t, err := time.Parse(domain.DateLayout, s)
		if err != nil {
			return nil, fmt.Errorf("days_between takes dates written YYYY-MM-DD, not %q", s)
		}
		days[i] = t
	}
	return int(math.Round(days[1].Sub(days[0]).Hours() / 24)), nil
}

// whenToday formats a guard's today, the same for a day's turns.
var whenToday = domain.NewDateFormat(domain.DateLayout)

// Guard is a compiled transition guard (a transition's when). It is
// immutable and safe for concurrent use.
type Guard struct {
	prog *vm.Program
}

// CompileWhen compiles a transition's when within the limits: the same
// cut-down language as expression constraints, over vars, meta and today.
func CompileWhen(src string, limits domain.PolicyLimits) (*Guard, error) {
	prog, err := whenLanguage.compile(src, limits)
	if err != nil {
		return nil, err
	}
	return &Guard{prog: prog}, nil
}

// Holds evaluates the guard for a turn at now (its date in now's
// location). It fails closed: an evaluation error (a date that is not
// one, a type mismatch) is returned with false, and the transition is not
// taken.
func (g *Guard) Holds(vars, meta map[string]any, now time.Time) (bool, error) {
	machine := vm.VM{MemoryBudget: exprMemoryBudget}
	out, err := machine.Run(g.prog, whenEnv{Vars: vars, Meta: meta, Today: whenToday.Format(now)})
	if err != nil {
		return false, err
	}
	ok, isBool := out.(bool)
	if !isBool {
		return false, errors.New("when did not evaluate to true or false")
	}
	return ok, nil
}

// WhenVariables returns the names of the session variables a when reads
// (vars.order_id, vars["order_id"]), sorted, so the importer can refuse
// one that nothing can set. A source that does not parse reads none.
func WhenVariables(src string) []string {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	refs := &varRefs{}
	ast.Walk(&tree.Node, refs)
	slices.Sort(refs.names)
	return slices.Compact(refs.names)
}

type varRefs struct{ names []string }

// Visit implements ast.Visitor.
func (r *varRefs) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "vars" {
		if name, ok := m.Property.(*ast.StringNode); ok {
			r.names = append(r.names, name.Value)
		}
	}
}
