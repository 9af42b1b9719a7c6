package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Finding is a source line the compiler fused a multiply and an add on.
type Finding struct {
	Pos      string // path:line, the path relative to the working directory when under it
	Mnemonic string
}

// instruction is a line of -S's listing: offset, pc, (file:line), then the
// instruction's mnemonic.
var instruction = regexp.MustCompile(`^\s+0x[0-9a-f]+\s+\d+\s+\((.+):(\d+)\)\s+(\S+)`)

// Fused lists, once each and in order, the source lines where listing has
// an instruction fused matches, leaving out the lines that call math.FMA.
func Fused(listing string, fused *regexp.Regexp, src *Source) ([]Finding, error) {
	seen := map[string]bool{}
	var out []Finding
	sc := bufio.NewScanner(strings.NewReader(listing))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := instruction.FindStringSubmatch(sc.Text())
		if m == nil || !fused.MatchString(m[3]) {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		pos := relative(m[1]) + ":" + m[2]
		if seen[pos] {
			continue
		}
		seen[pos] = true
		text, err := src.Line(m[1], line)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(text, "math.FMA(") {
			out = append(out, Finding{pos, m[3]})
		}
	}
	slices.SortFunc(out, func(a, b Finding) int { return cmp.Compare(a.Pos, b.Pos) })
	return out, sc.Err()
}

// Source reads source files' lines, each file once.
type Source struct {
	read  func(string) ([]byte, error)
	files map[string][]string
}

// NewSource reads files with read.
func NewSource(read func(string) ([]byte, error)) *Source {
	return &Source{read: read, files: map[string][]string{}}
}

// Line is line n (from 1) of path.
func (s *Source) Line(path string, n int) (string, error) {
	lines, ok := s.files[path]
	if !ok {
		b, err := s.read(path)
		if err != nil {
			return "", err
		}
		lines = strings.Split(string(b), "\n")
		s.files[path] = lines
	}
	if n < 1 || n > len(lines) {
		return "", fmt.Errorf("%s has no line %d", path, n)
	}
	return lines[n-1], nil
}

// relative is path relative to the working directory, when under it.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
