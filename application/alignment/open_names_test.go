package alignment

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// openNames answers as the filter it spares (a copy of the open names, nil
// when none is), on many generated steps and collections, and never
// writes to the step's names.
func TestOpenNamesAreTheOpenCollects(t *testing.T) {
	p := testPolicy()
	p.Variables = []domain.Variable{
		{Name: "order_id", Type: domain.VarText},
		{Name: "reason", Type: domain.VarText, Changeable: true},
		{Name: "email", Type: domain.VarText},
	}
	cp, err := domain.CompilePolicy(p)
	require.NoError(t, err)
	vs := cp.Variables()
	pool := []string{"order_id", "reason", "email", "undeclared"}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		var names []string
		for range rng.IntN(5) {
			names = append(names, pool[rng.IntN(len(pool))])
		}
		c := &collection{}
		if rng.IntN(3) > 0 {
			c.vars = map[string]any{}
			for range rng.IntN(4) {
				c.vars[pool[rng.IntN(len(pool))]] = []any{nil, "AC-1"}[rng.IntN(2)]
			}
		}
		var want []string
		for _, n := range names {
			if x := vs.Get(n); x != nil && (c.vars[n] == nil || x.Variable().Changeable) {
				want = append(want, n)
			}
		}
		before := append([]string(nil), names...)
		got := openNames(vs, c, names)
		require.Equal(t, want, got, "step %d: %v over %v", i, names, c.vars)
		require.Equal(t, before, names, "step %d", i)
		if len(got) > 0 && &got[0] == &names[0] {
			require.Equal(t, len(got), cap(got), "step %d: appending to the names must not write to the step's", i)
		}
	}
}
