package application

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// The JSON path reads any JSON body as the YAML path does: the same
// policy, or the same error (its line counted at line feeds alone). Seeded with bundles as API
// clients send them and the refusals TestJSONBundlesReadAsYAMLReadsThem
// names; the fuzzer varies their bytes.
func FuzzJSONBundleReadsAsYAML(f *testing.F) {
	demo, err := os.ReadFile("../examples/demo-agent.yaml")
	require.NoError(f, err)
	for _, seed := range []string{
		asJSON(&testing.T{}, string(demo)),
		asJSON(&testing.T{}, benchLikeBundle(3)),
		`{"agent": {"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "a"}, "rules": [{"id": "r", "condition": "c", "action": "x", "priority": 1.0}]}`,
		`{"agent": {"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "a", "name": "b"}}`,
		`{"agent": {"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "nmae": "a"}, "rules": [{"id": "r", "b": 1, "b!": 2}]}`,
		`{"rules": [], "templates": [{"id": "t", "text": "hi", "mode": "suggest", "x": 1e400}]}`,
		`[1, 2]`,
	} {
		f.Add([]byte(seed))
	}
	// Small limits, so that the fuzzer meets every refusal.
	limits, err := domain.DefaultPolicyLimits().With(map[string]int{"rules": 3, "examples": 2, "references": 2, "steps": 2,
		"transitions": 2, "variable_values": 2, "constraints": 2})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		viaJSON, jsonErr, ok := parseJSONBundle(data, limits)
		if !ok || !yamlPrintable(data) || !yamlKeysFit(data) {
			return
		}
		viaYAML, yamlErr := parseYAMLBundle(data, limits)
		if yamlErr != nil {
			require.Error(t, jsonErr, "the YAML path refused it: %v", yamlErr)
			if !bytes.ContainsRune(data, '\r') { // lines are counted at \n only
				assert.Equal(t, yamlErr.Error(), jsonErr.Error())
			}
			return
		}
		require.NoError(t, jsonErr, "the YAML path read it")
		assert.Equal(t, viaYAML, viaJSON)
	})
}

// yamlKeysFit reports whether every key of data, checked JSON, is one
// YAML reads as a key: its ':' on the key's line and at most 1024
// characters after the key's opening quote (YAML 1.2, 7.4: an implicit
// key). JSON allows a longer key and a line break before the ':', which
// the YAML path refuses as a syntax error; the JSON path reads such a
// body as the JSON it is, so the YAML path is no reference for it.
func yamlKeysFit(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		start := i
		for i++; data[i] != '"'; i++ { // checked JSON: every string ends
			if data[i] == '\\' {
				i++
			}
		}
		next := i + 1
		for next < len(data) && bytes.IndexByte([]byte(" \t\r\n"), data[next]) >= 0 {
			next++
		}
		if next < len(data) && data[next] == ':' {
			if key := data[start:next]; bytes.ContainsAny(key, "\r\n") || utf8.RuneCount(key) > 1024 {
				return false
			}
		}
	}
	return true
}

// yamlPrintable reports whether every character of data may stand in a
// YAML stream (YAML 1.2, 5.1). JSON strings may hold DEL, the C1 controls
// and U+FFFE raw, which YAML refuses: the JSON path reads such a body as
// the JSON it is, so the YAML path is no reference for it.
func yamlPrintable(data []byte) bool {
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		data = data[n:]
		switch {
		case r == utf8.RuneError && n == 1:
			return false // not UTF-8
		case r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85:
		case r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff:
		default:
			return false
		}
	}
	return true
}

// yamlKeysFit leaves out of FuzzJSONBundleReadsAsYAML only the bodies the
// YAML path refuses for their keys: a key whose ':' is 1024 characters
// after its opening quote is read, one a character further is not, nor
// one with a line break before its ':'.
func TestYAMLKeysFitIsYAMLsLimit(t *testing.T) {
	limits := domain.DefaultPolicyLimits()
	for _, c := range []struct {
		name, key, colon string
	}{
		{"1024 characters", strings.Repeat("k", 1022), ":"},
		{"1024 with spaces", strings.Repeat("k", 1018), "    :"},
		{"1024 characters of two bytes", strings.Repeat("é", 1022), ":"},
		{"1025 characters", strings.Repeat("k", 1023), ":"},
		{"1025 with a space", strings.Repeat("k", 1022), " :"},
		{"a line break before the colon", "rules", "\n:"},
		{"a carriage return before the colon", "rules", "\r\n:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(`{"agent": {"id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "name": "a"}, "` + c.key + `"` + c.colon + ` []}`)
			_, yamlErr := parseYAMLBundle(body, limits)
			refusedAsSyntax := yamlErr != nil && strings.Contains(yamlErr.Error(), "did not find expected")
			assert.Equal(t, refusedAsSyntax, !yamlKeysFit(body), "YAML path: %v", yamlErr)
		})
	}
}
