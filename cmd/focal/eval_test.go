package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/application"
	"focal/application/evaluation"
	"focal/application/labelled"
)

// evalResult runs focal eval and reads the result it wrote.
func evalResult(t *testing.T, bundle, data string) (evaluation.Result, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	out, err := runCLI(t, "eval", bundle, data, "--json", path)
	require.NoError(t, err, out)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var r evaluation.Result
	require.NoError(t, json.Unmarshal(raw, &r))
	return r, out
}

// banking77Slice is the floor of the reduced Banking77 run below: every
// tenth test message against 10 examples per intent, which measured 81.2 %
// top-1 accuracy (78.0 % on all 3,080 in make eval); held a few points
// under.
const banking77Slice = 0.77

// make test runs a slice of the evaluation (`make eval` runs it whole):
// Banking77 with 10 examples per intent, on every tenth test message.
func TestEvalBanking77Slice(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) []labelled.Labelled {
		raw, err := os.ReadFile(filepath.Join(repo, "testdata", "banking77", name))
		require.NoError(t, err)
		rows, err := labelled.Read(name, raw)
		require.NoError(t, err)
		return rows
	}
	bundle, err := application.EncodeBundleYAML(labelled.Bundle("9b2d7f6e-5a1c-4e3b-8f0a-2c4d6e8f0a1b", "Banking77, 10 per intent",
		read("train.csv"), 10, nil))
	require.NoError(t, err)
	var slice []labelled.Labelled
	for i, r := range read("test.csv") {
		if i%10 == 0 {
			slice = append(slice, labelled.Labelled{Text: r.Text, Label: labelled.RuleID(r.Label)})
		}
	}
	data, err := labelled.Write(slice)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bundle.yaml"), bundle, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "slice.csv"), data, 0o600))

	r, out := evalResult(t, filepath.Join(dir, "bundle.yaml"), filepath.Join(dir, "slice.csv"))
	t.Log(out)
	assert.Equal(t, len(slice), r.Turns)
	assert.Equal(t, 77, r.Rules)
	assert.GreaterOrEqual(t, r.Accuracy(), banking77Slice)
	assert.Contains(t, out, "top-1 accuracy:")
	assert.Contains(t, out, "matching per turn:")
}

// The demo agent's whole paraphrase set: at least 90 % of turns exactly
// right, every negation among them.
func TestEvalDemoParaphrases(t *testing.T) {
	r, out := evalResult(t, filepath.Join(repo, "examples", "demo-agent.yaml"), filepath.Join(repo, "testdata", "eval", "demo-agent.yaml"))
	t.Log(out)
	assert.GreaterOrEqual(t, r.Turns, 80)
	assert.GreaterOrEqual(t, r.ExactRate(), 0.90, "misses: %+v", r.Misses)
	neg := r.Kind(evaluation.NegationKind)
	assert.Positive(t, neg.Turns)
	assert.Equal(t, neg.Turns, neg.Right, "every negation right; misses: %+v", r.Misses)
	assert.Positive(t, r.OutOfScope, "the set has out-of-scope messages")
	assert.Contains(t, out, "out-of-scope recall:")
}

func TestEvalRefusesBadData(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("conversations:\n  - turns:\n      - {user: hi, rule: [greeting]}\n"), 0o600))
	_, err := runCLI(t, "eval", filepath.Join(repo, "examples", "demo-agent.yaml"), bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rule")
}
