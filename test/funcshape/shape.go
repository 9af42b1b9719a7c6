package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Limits are the largest function shape that passes.
type Limits struct {
	// Lines is the most lines a function may span, from its signature to
	// its closing brace.
	Lines int
	// Depth is the most blocks (if, for, switch, select, function literal)
	// a statement may sit inside, counted from the function's body; an
	// else-if chain is one level, as it reads.
	Depth int
	// Cognitive is the highest cognitive complexity allowed, as gocognit
	// computes it.
	Cognitive int
}

// Finding is the shape of one function over a limit.
type Finding struct {
	Pos       token.Position
	Func      string
	Lines     int
	Depth     int
	Cognitive int
}

// Key names the function as exclusion lists and gocognit do.
func (f Finding) Key() string { return f.Pos.Filename + " " + f.Func }

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %d lines, nesting depth %d, cognitive complexity %d", f.Pos, f.Func, f.Lines, f.Depth, f.Cognitive)
}

// Complexities are gocognit's cognitive complexities by Finding.Key;
// a function it does not list has none.
type Complexities map[string]int

// ParseComplexities reads gocognit's output in the format
// "{{.Complexity}} {{.Pos.Filename}} {{.FuncName}}".
func ParseComplexities(r io.Reader) (Complexities, error) {
	out := Complexities{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want <complexity> <path> <function>, got %q", n, sc.Text())
		}
		c, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out[fields[1]+" "+fields[2]] = c
	}
	return out, sc.Err()
}

// Check parses one Go file and reports its functions over limits.
// Function literals count toward the function that holds them.
func Check(fset *token.FileSet, path string, src io.Reader, limits Limits, complexity Complexities) ([]Finding, error) {
	file, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		f := Finding{
			Pos:   fset.Position(fn.Pos()),
			Func:  funcName(fn),
			Lines: fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1,
			Depth: nesting(fn.Body, 0),
		}
		f.Cognitive = complexity[f.Key()]
		if f.Lines > limits.Lines || f.Depth > limits.Depth || f.Cognitive > limits.Cognitive {
			out = append(out, f)
		}
	}
	return out, nil
}

// funcName is "Name", "(Recv).Name" or "(*Recv).Name", as gocognit
// names functions.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	return "(" + typeName(fn.Recv.List[0].Type) + ")." + fn.Name.Name
}

// typeName is a receiver's type without its type parameters.
func typeName(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.StarExpr:
		return "*" + typeName(t.X)
	case *ast.Ident:
		return t.Name
	case *ast.IndexExpr:
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	}
	return fmt.Sprintf("%T", t)
}

// nesting is the deepest block nesting below n, which sits at depth.
func nesting(n ast.Node, depth int) int {
	deepest := depth
	ast.Inspect(n, func(c ast.Node) bool {
		if c == n {
			return true
		}
		switch c := c.(type) {
		case *ast.IfStmt:
			deepest = max(deepest, ifNesting(c, depth))
			return false
		case *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt, *ast.TypeSwitchStmt, *ast.SelectStmt, *ast.FuncLit:
			deepest = max(deepest, nesting(c, depth+1))
			return false
		}
		return true
	})
	return deepest
}

// ifNesting is the nesting of an if statement at depth, its else-ifs at
// the same depth.
func ifNesting(s *ast.IfStmt, depth int) int {
	deepest := nesting(s.Body, depth+1)
	if s.Init != nil {
		deepest = max(deepest, nesting(s.Init, depth))
	}
	deepest = max(deepest, nesting(s.Cond, depth))
	switch e := s.Else.(type) {
	case *ast.IfStmt:
		deepest = max(deepest, ifNesting(e, depth))
	case *ast.BlockStmt:
		deepest = max(deepest, nesting(e, depth+1))
	}
	return deepest
}

// Exclusions are functions the check lets pass whatever their shape, one
// "<path> <function>" a line; text after '#' says why.
type Exclusions map[string]bool

// ParseExclusions reads an exclusion list.
func ParseExclusions(r io.Reader) (Exclusions, error) {
	ex := Exclusions{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		switch len(fields) {
		case 0:
			continue
		case 2:
			ex[fields[0]+" "+fields[1]] = true
		default:
			return nil, fmt.Errorf("line %d: want <path> <function>, got %q", n, sc.Text())
		}
	}
	return ex, sc.Err()
}

// Filter drops the excluded findings and returns the rest and, sorted,
// the exclusions that matched nothing: stale entries to remove.
func (ex Exclusions) Filter(findings []Finding) (kept []Finding, stale []string) {
	used := map[string]bool{}
	for _, f := range findings {
		if ex[f.Key()] {
			used[f.Key()] = true
			continue
		}
		kept = append(kept, f)
	}
	for key := range ex {
		if !used[key] {
			stale = append(stale, key)
		}
	}
	slices.Sort(stale)
	return kept, stale
}
