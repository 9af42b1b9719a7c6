package alignment

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

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
	// presence is set when the guard only asks whether one variable is
	// set (vars.order_id != nil), as most flows' guards do: HoldsFor then
	// answers it without the VM, or the variables gathered into a map.
	presence *presenceTest
}

// CompileWhen compiles a transition's when within the limits: the same
// cut-down language as expression constraints, over vars, meta and today.
func CompileWhen(src string, limits domain.PolicyLimits) (*Guard, error) {
	prog, err := whenLanguage.compile(src, limits)
	if err != nil {
		return nil, err
	}
	return &Guard{prog: prog, presence: presenceOf(prog)}, nil
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

// presenceTest is a guard that holds when one variable is set (or, with
// unset, when it is not): vars.NAME != nil, vars["NAME"] == nil.
type presenceTest struct {
	name  string
	unset bool
}

// presenceOf recognises a presence test by the program the compiler made
// of it (its shape as source varies: parentheses, not, index or member),
// nil for any other guard. The program is load vars, fetch NAME,
// dereference, compare with nil, negate for !=, cast to bool: what
// presenceTest.holds does.
func presenceOf(prog *vm.Program) *presenceTest {
	code := prog.Bytecode
	want := []vm.Opcode{vm.OpLoadField, vm.OpPush, vm.OpFetch, vm.OpDeref, vm.OpNil, vm.OpEqual, vm.OpNot, vm.OpCast}
	unset := len(code) == len(want)-1
	if unset {
		want = slices.Delete(want, 6, 7)
	}
	if !slices.Equal(code, want) || prog.Arguments[len(code)-1] != 3 { // 3: to bool
		return nil
	}
	field, ok := prog.Constants[prog.Arguments[0]].(*runtime.Field)
	if !ok || !slices.Equal(field.Path, []string{"vars"}) {
		return nil
	}
	name, ok := prog.Constants[prog.Arguments[1]].(string)
	if !ok {
		return nil
	}
	return &presenceTest{name: name, unset: unset}
}

// holdsWith is Holds for a presence test, given what the variables
// hold under its name (nil when they hold nothing): as Holds would answer
// over the variables, without their map or the VM.
func (p *presenceTest) holdsWith(v any) bool { return nilValue(v) == p.unset }

// nilValue reports whether v compares equal to nil in a guard once the
// VM has dereferenced it: nil, a nil pointer (or one to a pointer that
// is nil), a nil map, slice, channel or function.
func nilValue(v any) bool {
	switch v.(type) {
	case nil:
		return true
	case string, float64, bool, int, int64:
		return false
	}
	r := reflect.ValueOf(v)
	for r.Kind() == reflect.Pointer || r.Kind() == reflect.Interface {
		if r.IsNil() {
			return true
		}
		r = r.Elem()
	}
	switch r.Kind() {
	case reflect.Chan, reflect.Func, reflect.Map, reflect.Slice:
		return r.IsNil()
	}
	return false
}
