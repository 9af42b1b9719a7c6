package application

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// yamlNodeBound is never below the nodes yaml.v3 builds, whatever the
// document's shape: the bound on memory depends on it.
func TestYAMLNodeBoundIsNeverBelowTheNodes(t *testing.T) {
	for _, doc := range nodeBoundDocs(t) {
		assertNodeBound(t, doc)
	}
}

// FuzzYAMLNodeBound looks for a document of more nodes than its bound.
func FuzzYAMLNodeBound(f *testing.F) {
	for _, doc := range nodeBoundDocs(f) {
		f.Add(doc)
	}
	f.Fuzz(assertNodeBound)
}

func assertNodeBound(t *testing.T, doc string) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		return // yaml.v3 refuses it; what it built is dropped
	}
	assert.GreaterOrEqual(t, yamlNodeBound([]byte(doc)), countNodes(&root), "%.60q", doc)
}

func nodeBoundDocs(t testing.TB) []string {
	demo, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(t, err)
	docs := []string{string(demo), flowBundle, initialOf(5), "a", "", "a: b", "a:\nb:\n", "x:\n  y:\n    a: b\n", "- a: b\n  c: d\n",
		"- - - a\n", "-\n-\n", "a:\n- b\n- c\n", "{a, b, c}", "[a: b, c: d]", "[a, b: c]", "{a: [b, {c}]}", "? a\n: b\n", "? a\n? b\n",
		"[[], [], {}]", "[a, b, ]", "{a: , b: }", "[? a : b]", "!!map {a: b}", "x: |\n  - a\n  - b\n", "--- a\n--- b\n",
		"a: &x [b]\nc: *x\n", "[*x, *x]", "{? a, ? b}", "a: {b: {c: {d: e}}}"}
	for _, s := range bundleShapes {
		docs = append(docs, string(s.body(4<<10)))
	}
	return docs
}
