package application

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// bundleShape is a bundle built to cost the parser the most memory for
// its size: many tiny items, many keys, deep nesting.
type bundleShape struct {
	name string
	body func(size int) []byte
}

// fill repeats item after head until the body is size bytes, then closes
// it with tail.
func fill(head, item, sep, tail string, size int) []byte {
	var b strings.Builder
	b.Grow(size + len(tail))
	b.WriteString(head)
	for i := 0; b.Len()+len(item)+len(sep)+len(tail) <= size; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(item)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// keys is a mapping of n distinct keys of a few bytes each.
func keys(head, open, pair, tail string, size int) []byte {
	var b strings.Builder
	b.WriteString(head + open)
	for i := 0; b.Len()+24+len(tail) <= size; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, pair, i)
	}
	b.WriteString(tail)
	return []byte(b.String())
}

// keyList is an object of n keys written as pair.
func keyList(pair string, n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, pair, i)
	}
	return b.String() + "}"
}

const jsonHead = `{"agent":{"id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","name":"a"},`

var bundleShapes = []bundleShape{
	{"yaml flow examples", func(n int) []byte {
		return fill(bundleHead+"rules:\n  - {id: a, condition: c, action: x, examples: [", "a", ",", "]}\n", n)
	}},
	{"yaml block examples", func(n int) []byte {
		return fill(bundleHead+"rules:\n  - id: a\n    condition: c\n    action: x\n    examples:\n", "    - a\n", "", "", n)
	}},
	{"yaml empty rules", func(n int) []byte { return fill(bundleHead+"rules: [", "{}", ",", "]\n", n) }},
	{"yaml many keys", func(n int) []byte { return keys(bundleHead+"rules:\n  - ", "{", "k%d: 0", "}\n", n) }},
	{"yaml keys without values", func(n int) []byte { return fill(bundleHead+"rules:\n  - {", "a", ",", "}\n", n) }},
	{"yaml deep nesting", func(n int) []byte { return fill(bundleHead+"rules: ", "[", "", "", n/2) }},
	{"json flow examples", func(n int) []byte {
		return fill(jsonHead+`"rules":[{"id":"a","condition":"c","action":"x","examples":[`, `"a"`, ",", "]}]}", n)
	}},
	{"json empty rules", func(n int) []byte { return fill(jsonHead+`"rules":[`, "{}", ",", "]}", n) }},
	{"json many keys", func(n int) []byte { return keys(jsonHead+`"rules":[`, "{", `"k%d":0`, "}]}", n) }},
	{"json unknown keys", func(n int) []byte { return fill(jsonHead+`"rules":[`, keyList(`"k%d":0`, 100), ",", "]}", n) }},
	{"json duplicate keys", func(n int) []byte {
		return fill(jsonHead+`"rules":[`, "{"+strings.TrimSuffix(strings.Repeat(`"a":0,`, 100), ",")+"}", ",", "]}", n)
	}},
	{"json deep nesting", func(n int) []byte { return fill(jsonHead+`"rules":`, "[", "", "", n/2) }},
}

// atYAMLNodeBound is shape as dense as checkYAMLNodes lets a YAML body
// of size bytes be: as much of it as may be, after a comment filling the
// rest. The worst YAML gets past that check.
func atYAMLNodeBound(shape bundleShape, size int) bundleShape {
	body := func(dense int) []byte {
		b := shape.body(dense)
		return append(append(append([]byte("#"), bytes.Repeat([]byte("x"), size-len(b)-2)...), '\n'), b...)
	}
	lo, hi := 0, size/2 // the most dense bytes found to pass, the fewest to fail
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if checkYAMLNodes(body(mid)) == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	return bundleShape{shape.name + " at the node bound", func(int) []byte { return body(lo) }}
}

// worstBundleShapes are bundleShapes and, for those in YAML, the same at
// the node bound.
func worstBundleShapes(size int) []bundleShape {
	shapes := slices.Clone(bundleShapes)
	for _, s := range bundleShapes {
		if strings.HasPrefix(s.name, "yaml") && !strings.Contains(s.name, "nesting") {
			shapes = append(shapes, atYAMLNodeBound(s, size))
		}
	}
	return shapes
}

// BenchmarkParseBundleShapes reports what one parse of each worst shape
// allocates, as a multiple of its 4 MiB body (x-body): go test -run '^$'
// -bench ParseBundleShapes -benchtime 1x ./application/. A benchmark, not a
// test, so that ordinary runs do not parse gigabytes.
//
// Beside the shapes, each refused, the bench's 10,000-rule agent, which
// is read: as JSON and as the YAML EncodeBundleYAML writes of it (each
// the size it is, not 4 MiB).
func BenchmarkParseBundleShapes(b *testing.B) {
	const size = 4 << 20
	shapes := worstBundleShapes(size)
	bench := []byte(benchLikeBundle(10_000))
	p, err := ParseBundle(bench)
	if err != nil {
		b.Fatal(err)
	}
	benchYAML, err := EncodeBundleYAML(p)
	if err == nil {
		_, err = ParseBundle(benchYAML)
	}
	if err != nil {
		b.Fatal(err)
	}
	shapes = append(shapes, bundleShape{"json 10,000 bench rules, read", func(int) []byte { return bench }},
		bundleShape{"yaml 10,000 bench rules, read", func(int) []byte { return benchYAML }})
	for _, s := range shapes {
		body := s.body(size)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for b.Loop() {
				_, _ = ParseBundle(body)
			}
			runtime.ReadMemStats(&after)
			perOp := float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N)
			b.ReportMetric(perOp/float64(len(body)), "x-body")
		})
	}
}
