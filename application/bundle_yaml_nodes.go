package application

import (
	"fmt"
)

// yaml.v3 builds a document's whole node tree before anything can look at
// it, whether through Unmarshal or a Decoder on a stream (which reads one
// document, tree and all), and a YAML body can hold a node every two
// bytes. What bounds its memory is refusing, before it runs, a body that
// could hold too many nodes. A bound from the policy limits alone would
// let through every bundle they allow, but at the defaults that is
// millions of nodes (10,000 rules of 100 template ids each, 200,000
// transitions), over a gigabyte to build: no bound at all for a 4 MiB
// body. So a YAML body may hold a node per yamlBytesPerNode bytes, and
// minYAMLNodes whatever its size; JSON, where most of the dense bundles
// come from, is read without yaml.v3 (parseJSONBundle) and has no such
// bound, only the limits.

// yamlNodeSeparators are the bytes that start, or stand between, YAML
// nodes. A '-' does only before a blank (see yamlNodeBound).
var yamlNodeSeparators = [256]bool{',': true, ':': true, '-': true, '[': true, '{': true, '?': true}

// yamlNodeBound bounds the nodes yaml.v3 builds from a YAML document: two
// for each byte that can start or separate one (a flow mapping's key
// without a value is two nodes after one comma; a block mapping's key and
// value two after one colon) and two for the document and its root. A '-'
// starts a list item only before a blank or a line break (yaml.v3's
// is_blankz; 0xC2 and 0xE2 begin the Unicode line breaks), not in a UUID,
// a negative number or a hyphenated word. It counts without allocating,
// so it can run before yaml.v3 does.
func yamlNodeBound(data []byte) int {
	n := 0
	for i, b := range data {
		if !yamlNodeSeparators[b] {
			continue
		}
		if b == '-' && i+1 < len(data) {
			switch data[i+1] {
			case ' ', '\t', '\r', '\n', 0, 0xC2, 0xE2:
			default:
				continue
			}
		}
		n++
	}
	return 2*n + 2
}

const (
	// yamlBytesPerNode is the fewest bytes per possible node a YAML
	// bundle of more than minYAMLNodes may have. yaml.v3 allocates some
	// 250 bytes for each node it builds (300 with its lists' growth and
	// the scalars' bytes), all before anything can be checked: a body of
	// one-letter flow examples, two bytes a node, allocated 125 times its
	// size. One possible node per 10 bytes holds that to 30 times.
	yamlBytesPerNode = 10
	// minYAMLNodes is the possible nodes any YAML bundle may have, however
	// dense: enough for the bench's 10,000-rule agent exported as YAML
	// (245,000), or 10,000 rules of one-word fields (120,000). They cost
	// at most some 80 MB to read.
	minYAMLNodes = 1 << 18
)

// yamlNodesAllowed is the most nodes a YAML body of size bytes may have.
func yamlNodesAllowed(size int) int { return max(minYAMLNodes, size/yamlBytesPerNode) }

// checkYAMLNodes refuses a YAML body that may hold more nodes than
// yamlNodesAllowed.
func checkYAMLNodes(data []byte) error {
	bound, allowed := yamlNodeBound(data), yamlNodesAllowed(len(data))
	if bound <= allowed {
		return nil
	}
	return bundleError(fmt.Sprintf("bundle is too dense to read as YAML: its %d bytes may hold %d nodes, over the %d a YAML bundle of its size may "+
		"(one per %d bytes, at least %d); send it as JSON, which is read without this bound", len(data), bound, allowed, yamlBytesPerNode, minYAMLNodes))
}
