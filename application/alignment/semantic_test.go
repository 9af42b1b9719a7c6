package alignment

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// semanticPolicy has four rules with examples; version sets its version.
func semanticPolicy(version int64) *domain.Policy {
	p := testPolicy(append([]domain.Rule{globalRule("human", "talk to a human", "ACTION-HANDOFF",
		"I want to talk to a human", "let me speak to a real person", "connect me with an agent please", "can I talk to someone")},
		shopRules()...)...)
	p.Agent.Version = version
	return p
}

// paraphrase asks for a human without a single word of any example.
const paraphrase = "any actual employee available?"

// semanticEmbedder is a fake embedder that places each rule's examples
// near a direction of their own (each a little off it, differently) and
// the paraphrase near the human rule's, closest to its second example.
func semanticEmbedder(p *domain.Policy) *fakeEmbedder {
	const dim = 12
	emb := newFakeEmbedder(dim)
	for r, rule := range p.Rules {
		for j, ex := range rule.Examples {
			v := make([]float32, dim)
			v[r] = 1
			v[4+j%8] = 0.35
			emb.set(ex, v...)
		}
	}
	v := make([]float32, dim)
	v[0], v[4+1], v[2] = 1, 0.4, 0.1
	return emb.set(paraphrase, v...)
}

func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) }) {
		out[w] = true
	}
	return out
}

func TestSemanticSignalMatchesAParaphraseSharingNoWord(t *testing.T) {
	p := semanticPolicy(1)
	for _, r := range p.Rules {
		for _, ex := range append(r.Examples, r.Condition) {
			for w := range words(paraphrase) {
				require.False(t, words(ex)[w], "precondition: %q shares %q with %q", paraphrase, w, ex)
			}
		}
	}
	lexical := newHarness(t, semanticPolicy(1), newFakeModel(say("Hello.")))
	r := lexical.run(paraphrase)
	assert.Empty(t, matchedIDs(r.exp()), "words alone cannot match a paraphrase that shares none")

	h := newHarness(t, p, newFakeModel(say("Connecting you.")), withEmbedder(semanticEmbedder(p)))
	r = h.run(paraphrase)
	assert.Equal(t, domain.RetrievalHybrid, r.exp().Retrieval.Mode)
	assert.Empty(t, r.exp().Retrieval.Note)
	require.Equal(t, []string{"human"}, matchedIDs(r.exp()))
	c, _ := candidate(r.exp(), "human")
	assert.Greater(t, c.Semantic, c.Lexical, "the meaning decided, not the words")
	assert.Less(t, c.Lexical, domain.DefaultMatchThreshold)
	assert.Equal(t, "let me speak to a real person", c.Example, "the example nearest in meaning explains the match")
	assert.Contains(t, systemMessage(h.model.request(0)), "ACTION-HANDOFF")
}

func TestSemanticSignalEmbedsTheMessageOnceAndThePolicyOncePerVersion(t *testing.T) {
	emb := semanticEmbedder(semanticPolicy(1))
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("Sure.")), withEmbedder(emb))
	msgs := []string{paraphrase, "when do you open on mondays", "hello there"}
	for _, m := range msgs {
		h.run(m)
		assert.Equal(t, 1, emb.embedded(m), "message %q embedded once in its turn", m)
	}
	assert.Equal(t, 1, emb.embedded("I want to talk to a human"), "examples embedded once for version 1")
	assert.Equal(t, 1, emb.embedded("talk to a human"), "the condition's own text is an example too")

	h.policy = semanticPolicy(2)
	h.run("hello again")
	h.run("still here")
	assert.Equal(t, 2, emb.embedded("I want to talk to a human"), "a new version is embedded again, once")
}

func TestSemanticSignalDegradesToWordsWhenTheEmbedderFails(t *testing.T) {
	emb := semanticEmbedder(semanticPolicy(1))
	emb.err = domain.Errorf(domain.CodeLLMUnavailable, "embedding service down")
	h := newHarness(t, semanticPolicy(1), newFakeModel(say("We open at nine.")), withEmbedder(emb))
	r := h.run("what are your opening hours")

	assert.Equal(t, domain.RetrievalLexical, r.exp().Retrieval.Mode)
	assert.Contains(t, r.exp().Retrieval.Note, "lexical")
	assert.Contains(t, r.exp().Retrieval.Note, "LLM_UNAVAILABLE")
	assert.Equal(t, []string{"hours"}, matchedIDs(r.exp()))
	assert.Equal(t, "We open at nine.", r.Response)

	// Once the embedder answers again, the next turn reads meanings.
	emb.mu.Lock()
	emb.err = nil
	emb.mu.Unlock()
	r = h.run(paraphrase)
	assert.Equal(t, domain.RetrievalHybrid, r.exp().Retrieval.Mode)
	assert.Equal(t, []string{"human"}, matchedIDs(r.exp()))
}

// heldEmbedder holds its first call until release (or its context's end).
type heldEmbedder struct {
	*fakeEmbedder
	held            atomic.Bool
	calls           atomic.Int32
	called, release chan struct{}
}

func (e *heldEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	if e.held.CompareAndSwap(true, false) {
		close(e.called)
		select {
		case <-e.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.fakeEmbedder.Embed(ctx, texts)
}

// The policy's embedding serves every turn that joins it: the turn that
// began it going away (its client hung up) ends that turn's wait, not the
// embedding, which the next turn is served from without embedding again.
func TestPolicyEmbeddingOutlivesTheTurnThatBeganIt(t *testing.T) {
	p := semanticPolicy(1)
	emb := &heldEmbedder{fakeEmbedder: semanticEmbedder(p), called: make(chan struct{}), release: make(chan struct{})}
	emb.held.Store(true)
	h := newHarness(t, p, newFakeModel(say("Sure.")), func(d *Deps) { d.Embedder = emb })

	ctx, hangUp := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := h.engine.policyVectors(ctx, p)
		first <- err
	}()
	<-emb.called
	hangUp()
	require.Equal(t, domain.CodeTimeout, domain.ErrorCodeOf(<-first), "the turn that hung up stops waiting")
	close(emb.release)

	vectors, err := h.engine.policyVectors(context.Background(), p)
	require.NoError(t, err)
	assert.Len(t, vectors, len(domain.ExampleTexts(p)))
	assert.Equal(t, int32(1), emb.calls.Load(), "embedded once, by the flight the first turn began")
}
