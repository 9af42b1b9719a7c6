package alignment

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// One engine serves many sessions at once: each turn is independent, the
// policy is compiled and its conditions embedded once.
func TestConcurrentTurnsShareOnePolicyVersion(t *testing.T) {
	emb := semanticEmbedder(semanticPolicy(1))
	m := newFakeModel(say("Connecting ", "you now."))
	h := newHarness(t, semanticPolicy(1), m, withEmbedder(emb))

	const turns = 32
	type result struct {
		out    *ports.TurnOutcome
		deltas []string
		err    error
	}
	results := make([]result, turns)
	var wg sync.WaitGroup
	for i := range turns {
		wg.Go(func() {
			s := h.session.Clone()
			s.ID = fmt.Sprintf("s-%d", i)
			var deltas []string
			out, err := h.engine.RunTurn(context.Background(), ports.TurnInput{
				Policy: h.policy, Session: s, TurnNumber: 1, Message: paraphrase,
			}, func(d string) error { deltas = append(deltas, d); return nil })
			results[i] = result{out, deltas, err}
		})
	}
	wg.Wait()

	for i, r := range results {
		require.NoError(t, r.err, "turn %d", i)
		assert.Equal(t, "Connecting you now.", r.out.Response)
		assert.Equal(t, []string{"human"}, matchedIDs(r.out.Explanation))
		assert.Equal(t, domain.RetrievalHybrid, r.out.Explanation.Retrieval.Mode)
		assert.Equal(t, fmt.Sprintf("s-%d", i), r.out.Session.ID)
	}
	assert.Equal(t, 1, emb.embedded("I want to talk to a human"), "concurrent first turns share one embedding of the policy")
	assert.Equal(t, turns, emb.embedded(paraphrase))
	assert.Equal(t, turns, m.calls())
}
