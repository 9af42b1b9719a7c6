package main

import (
	"errors"
	"reflect"
	"regexp"
	"testing"
)

// TestFusedNamesEachLineOnceButNotMathFMA reads a listing as go build
// -gcflags=-S prints it for arm64: a fused line twice (inlined in two
// functions), a line that calls math.FMA, and instructions that are not
// fused.
func TestFusedNamesEachLineOnceButNotMathFMA(t *testing.T) {
	listing := "focal/domain.addDenseGo STEXT size=80 args=0x48 locals=0x0 funcid=0x0 align=0x0 leaf\n" +
		"\t0x0000 00000 (/src/domain/margins_dense.go:186)\tTEXT\tfocal/domain.addDenseGo(SB), LEAF|NOFRAME|ABIInternal, $0-72\n" +
		"\t0x02f0 00752 (/src/domain/margins_dense.go:189)\tFMADDD\tF0, F2, F1, F1\n" +
		"\t0x0300 00768 (/src/domain/exp.go:50)\tFMADDD\tF3, F4, F5, F5\n" +
		"\t0x0310 00784 (/src/domain/exp.go:51)\tFMULD\tF3, F4, F5\n" +
		"\t0x0320 00800 (/src/domain/score.go:7)\tFNMSUBD\tF0, F2, F1, F1\n" +
		"\t0x008c 00140 (/src/domain/margins_dense.go:189)\tFMADDD\tF0, F2, F1, F1\n" +
		"\t0x0090 00144 (/src/domain/score.go:8)\tFMADD\tR1, R2, R3\n"
	files := map[string]string{
		"/src/domain/margins_dense.go": fill(188) + "\t\tacc[c] += v * float64(w)\n",
		"/src/domain/exp.go":           fill(49) + "\tr := math.FMA(-kf, ln2U, x)\n",
		"/src/domain/score.go":         fill(6) + "\treturn a - b*c\n",
	}
	src := NewSource(func(path string) ([]byte, error) {
		if s, ok := files[path]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("no such file")
	})
	got, err := Fused(listing, regexp.MustCompile(`^FN?M(ADD|SUB)[SD]$`), src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{"/src/domain/margins_dense.go:189", "FMADDD"}, {"/src/domain/score.go:7", "FNMSUBD"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fused = %v, want %v", got, want)
	}
}

// TestFusedFailsOnAMissingSourceLine: a listing that names a line the file
// does not have is an error, not a line passed unread.
func TestFusedFailsOnAMissingSourceLine(t *testing.T) {
	src := NewSource(func(string) ([]byte, error) { return []byte("package domain\n"), nil })
	listing := "\t0x02f0 00752 (/src/domain/a.go:9)\tFMADDD\tF0, F2, F1, F1\n"
	if _, err := Fused(listing, regexp.MustCompile(`^FMADDD$`), src); err == nil {
		t.Error("Fused read line 9 of a one-line file without an error")
	}
}

// fill is n lines of filler.
func fill(n int) string {
	s := ""
	for range n {
		s += "//\n"
	}
	return s
}
