package bundleschema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"focal/application"
)

const committed = "../../docs/agent-bundle.schema.json"

// compile loads the generated schema into a validator.
func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := Generate()
	require.NoError(t, err)
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("agent-bundle.schema.json", parsed))
	s, err := c.Compile("agent-bundle.schema.json")
	require.NoError(t, err, "the generated schema does not compile")
	return s
}

// asJSONValue reads a YAML (or JSON) bundle as the validator's JSON value.
func asJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var doc any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	return v
}

// The copy under docs/ is what editors and reviewers read: it must be what
// the types give now.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	want, err := Generate()
	require.NoError(t, err)
	got, err := os.ReadFile(committed)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got),
		"docs/agent-bundle.schema.json is stale: the bundle's Go types changed. Run `make schema` and commit the result.")
}

var schemaComment = regexp.MustCompile(`(?m)^# yaml-language-server: \$schema=(\S+)$`)

// Every example bundle names the schema for its editor and satisfies it;
// the importer accepts it too.
func TestExampleBundlesValidate(t *testing.T) {
	s := compile(t)
	bundles, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	more, err := filepath.Glob("../../examples/*.json")
	require.NoError(t, err)
	bundles = append(bundles, more...)
	require.NotEmpty(t, bundles)
	for _, path := range bundles {
		if strings.HasSuffix(path, ".test.yaml") {
			continue // a conversation test, not a bundle
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			m := schemaComment.FindSubmatch(data)
			require.NotNil(t, m, "%s has no `# yaml-language-server: $schema=...` line", path)
			ref := filepath.Join(filepath.Dir(path), string(m[1]))
			abs, _ := filepath.Abs(ref)
			want, _ := filepath.Abs(committed)
			assert.Equal(t, want, abs, "the $schema line points at docs/agent-bundle.schema.json")

			assert.NoError(t, s.Validate(asJSONValue(t, data)))
			p, err := application.ParseBundle(data)
			require.NoError(t, err)
			assert.NoError(t, application.ValidatePolicy(p))
		})
	}
}
