package main

import (
	"go/token"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const shapes = `package p

func short() {}

func nested(xs []int) {
	for _, x := range xs {
		if x > 0 {
			switch x {
			case 1:
				go func() {
					select {}
				}()
			}
		}
	}
}

func chain(x int) int {
	if x == 1 {
		return 1
	} else if x == 2 {
		return 2
	} else if x == 3 {
		return 3
	} else {
		return 4
	}
}

type box[T any] struct{}

func (b *box[T]) long() {
	_ = 1
	_ = 2
	_ = 3
}
`

func check(t *testing.T, limits Limits, complexity Complexities) map[string]Finding {
	t.Helper()
	found, err := Check(token.NewFileSet(), "p.go", strings.NewReader(shapes), limits, complexity)
	require.NoError(t, err)
	byName := map[string]Finding{}
	for _, f := range found {
		byName[f.Func] = f
	}
	return byName
}

func TestShapeOfEachFunction(t *testing.T) {
	all := check(t, Limits{Lines: -1, Depth: -1, Cognitive: -1}, Complexities{"p.go nested": 9})
	assert.Equal(t, 1, all["short"].Lines)
	assert.Equal(t, 0, all["short"].Depth)
	assert.Equal(t, 12, all["nested"].Lines)
	assert.Equal(t, 5, all["nested"].Depth, "for, if, switch, func literal, select")
	assert.Equal(t, 9, all["nested"].Cognitive, "gocognit's figure")
	assert.Equal(t, 1, all["chain"].Depth, "an else-if chain is one level")
	assert.Equal(t, 5, all["(*box).long"].Lines, "generic receivers are named as gocognit names them")
	assert.Equal(t, "p.go (*box).long", all["(*box).long"].Key())
}

func TestOnlyFunctionsOverALimitAreFound(t *testing.T) {
	assert.Empty(t, check(t, Limits{Lines: 12, Depth: 5, Cognitive: 9}, Complexities{"p.go nested": 9}))
	over := check(t, Limits{Lines: 11, Depth: 5, Cognitive: 9}, Complexities{"p.go nested": 9})
	assert.Len(t, over, 1)
	assert.Contains(t, over, "nested")
	assert.Contains(t, check(t, Limits{Lines: 12, Depth: 4, Cognitive: 9}, nil), "nested")
	assert.Contains(t, check(t, Limits{Lines: 12, Depth: 5, Cognitive: 8}, Complexities{"p.go chain": 9}), "chain")
}

func TestExclusionsPassFunctionsAndGoStale(t *testing.T) {
	ex, err := ParseExclusions(strings.NewReader("# why each is here\np.go nested  # being rewritten\n\np.go short\n"))
	require.NoError(t, err)
	found, err := Check(token.NewFileSet(), "p.go", strings.NewReader(shapes), Limits{Lines: 11, Depth: 5, Cognitive: 25}, nil)
	require.NoError(t, err)
	kept, stale := ex.Filter(found)
	assert.Empty(t, kept, "nested is excluded")
	assert.Equal(t, []string{"p.go short"}, stale, "short is within the limits: its entry must go")

	_, err = ParseExclusions(strings.NewReader("p.go\n"))
	assert.Error(t, err)
}

func TestGocognitOutputIsRead(t *testing.T) {
	c, err := ParseComplexities(strings.NewReader("45 test/load/profile.go summarise\n31 adapters/mongo/turns.go (*Store).CommitTurn\n"))
	require.NoError(t, err)
	assert.Equal(t, Complexities{"test/load/profile.go summarise": 45, "adapters/mongo/turns.go (*Store).CommitTurn": 31}, c)
	_, err = ParseComplexities(strings.NewReader("x y z\n"))
	assert.Error(t, err)
}
