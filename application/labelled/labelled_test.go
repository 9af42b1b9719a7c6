package labelled

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBundles(t *testing.T) {
	rows := []Labelled{{"a1", "x"}, {"b1", "reverted?"}, {"a2", "x"}, {"a3", "x"}, {"b2", "reverted?"}, {"c1", "left_out"}}
	p := Bundle("agent", "test", rows, 2, map[string]bool{"left_out": true})
	require.Len(t, p.Rules, 2)
	assert.Equal(t, "x", p.Rules[0].ID)
	assert.Equal(t, []string{"a1", "a2"}, p.Rules[0].Examples)
	assert.Equal(t, "reverted", p.Rules[1].ID, "a label is made an id")
	assert.Equal(t, "reverted", RuleID("reverted?"))
	assert.Len(t, Bundle("agent", "all", rows, 0, nil).Rules[0].Examples, 3)

	big := ScaleBundle("agent", rows, 30, 1)
	require.Len(t, big.Rules, 30)
	ids := map[string]bool{}
	for _, r := range big.Rules {
		ids[r.ID] = true
		assert.Len(t, r.Examples, 4)
	}
	assert.Len(t, ids, 30)
	assert.Equal(t, big, ScaleBundle("agent", rows, 30, 1), "the same seed, the same bundle")
}
