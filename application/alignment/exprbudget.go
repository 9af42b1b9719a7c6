package alignment

import (
	"fmt"

	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
)

// The VM cannot be interrupted and counts no steps: its MemoryBudget
// counts only the elements of literals, ranges and sorts, and a context
// reaches functions, not the loop that runs the bytecode. So the bound on
// an evaluation's work is set on the program instead, where it holds
// whatever the source looked like: a program is refused at compile time
// unless every instruction is one of exprOpcodes, no jump goes backward
// and it has at most exprMaxSteps instructions. The VM then runs each
// instruction at most once, and each does at most one pass over the
// values it reads, so an evaluation costs at most exprMaxSteps passes
// over a value, the largest of which is the reply or a metadata value.
// Which functions a call may reach is the compiler's: it knows only the
// language's builtins and functions (exprLanguage.options), each a pass.
// A count kept while running would need a VM of our own; a cost computed
// from the tree would miss what the compiler and the optimizer add.

// exprMaxSteps bounds the instructions of an expression's program, and so
// the instructions one evaluation runs. It is fixed, not a policy limit:
// expression_nodes may be raised, this may not. The longest program
// within the default limits (200 nodes, 1000 bytes) is about 400.
const exprMaxSteps = 1_000

// exprOpcodes are the instructions a program may hold. None of them
// jumps backward or walks a value more than once; loops (OpBegin …
// OpJumpBackward, what any, all, map, filter, reduce and the like
// compile to), ranges, methods and the builtins whose cost the VM meters
// by their output (OpCallSafe: repeat, concat, flatten, reverse, sort) are not
// among them. OpMatches, a pattern built at run time, is not either: only
// a constant pattern, compiled and measured once, may be matched.
var exprOpcodes = map[vm.Opcode]bool{
	vm.OpPush: true, vm.OpInt: true, vm.OpPop: true, vm.OpStore: true, vm.OpLoadVar: true,
	vm.OpLoadConst: true, vm.OpLoadField: true, vm.OpLoadFast: true, vm.OpLoadFunc: true, vm.OpLoadEnv: true,
	vm.OpFetch: true, vm.OpFetchField: true, vm.OpTrue: true, vm.OpFalse: true, vm.OpNil: true,
	vm.OpNegate: true, vm.OpNot: true, vm.OpEqual: true, vm.OpEqualInt: true, vm.OpEqualString: true,
	vm.OpJump: true, vm.OpJumpIfTrue: true, vm.OpJumpIfFalse: true, vm.OpJumpIfNil: true, vm.OpJumpIfNotNil: true,
	vm.OpIn: true, vm.OpLess: true, vm.OpMore: true, vm.OpLessOrEqual: true, vm.OpMoreOrEqual: true,
	vm.OpAdd: true, vm.OpSubtract: true, vm.OpMultiply: true, vm.OpDivide: true, vm.OpModulo: true,
	vm.OpExponent: true, vm.OpMatchesConst: true, vm.OpContains: true, vm.OpStartsWith: true, vm.OpEndsWith: true,
	vm.OpSlice: true, vm.OpCall: true, vm.OpCall0: true, vm.OpCall1: true, vm.OpCall2: true, vm.OpCall3: true,
	vm.OpCallN: true, vm.OpCallFast: true, vm.OpCallTyped: true, vm.OpCallBuiltin1: true,
	vm.OpArray: true, vm.OpMap: true, vm.OpLen: true, vm.OpCast: true, vm.OpDeref: true,
}

// boundProgram refuses a program that could run more than exprMaxSteps
// instructions or whose instructions could cost more than a pass over
// what they read (see exprOpcodes).
func boundProgram(prog *vm.Program) error {
	if n := len(prog.Bytecode); n > exprMaxSteps {
		return fmt.Errorf("expression is too long to evaluate: %d instructions, more than %d", n, exprMaxSteps)
	}
	for i, op := range prog.Bytecode {
		arg := prog.Arguments[i]
		switch {
		case !exprOpcodes[op]:
			return fmt.Errorf("expression may not loop or call what costs more than one pass over its input (instruction %d of its program)", i)
		case arg < 0 && isJump(op):
			return fmt.Errorf("expression may not loop (instruction %d of its program jumps back)", i)
		case op == vm.OpCallBuiltin1 && !exprBuiltinAllowed(arg):
			return fmt.Errorf("expression may not use %s()", builtin.Builtins[arg].Name)
		}
	}
	return nil
}

func isJump(op vm.Opcode) bool {
	switch op {
	case vm.OpJump, vm.OpJumpIfTrue, vm.OpJumpIfFalse, vm.OpJumpIfNil, vm.OpJumpIfNotNil:
		return true
	}
	return false
}

// exprBuiltinAllowed reports whether the builtin a program calls by index
// is one of exprBuiltins.
func exprBuiltinAllowed(index int) bool {
	if index < 0 || index >= len(builtin.Builtins) {
		return false
	}
	name := builtin.Builtins[index].Name
	for _, allowed := range exprBuiltins {
		if allowed == name {
			return true
		}
	}
	return false
}
