package application

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"focal/domain"
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

// A YAML bundle denser than checkYAMLNodes allows is refused before
// yaml.v3 reads it, saying how to send it; the same bundle as JSON is
// read.
func TestDenseYAMLBundleIsRefusedAndItsJSONRead(t *testing.T) {
	var b strings.Builder
	b.WriteString(bundleHead + "templates: [{id: t, text: hi, mode: suggest}]\nrules:\n")
	for i := range 6_000 {
		fmt.Fprintf(&b, "  - {id: r%d, condition: c, action: x, template_ids: %s}\n", i, items(40, "t"))
	}
	dense := b.String()
	_, err := ParseBundle([]byte(dense))
	require.Error(t, err)
	assert.Equal(t, domain.CodeInvalidRequest, domain.ErrorCodeOf(err))
	assert.Contains(t, err.Error(), "bundle is too dense to read as YAML")
	assert.Contains(t, err.Error(), "send it as JSON")

	p, err := ParseBundle([]byte(asJSON(t, dense)))
	require.NoError(t, err)
	assert.Len(t, p.Rules, 6_000)
	assert.Len(t, p.Rules[0].TemplateIDs, 40)
}

// The bench's 10,000-rule agent, as YAML, is well within the node bound
// and reads as its JSON does.
func TestLargeYAMLBundleIsRead(t *testing.T) {
	asJSON := []byte(benchLikeBundle(10_000))
	want, err := ParseBundle(asJSON)
	require.NoError(t, err)
	asYAML, err := EncodeBundleYAML(want)
	require.NoError(t, err)
	t.Logf("%d bytes, %.1f a possible node", len(asYAML), float64(len(asYAML))/float64(yamlNodeBound(asYAML)))
	got, err := ParseBundle(asYAML)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}
