package alignment

import (
	"context"
	"fmt"

	"golang.org/x/sync/singleflight"

	"focal/application/bounded"
	"focal/domain"
)

// embedBatch is how many example texts go into one embedding request.
const embedBatch = 128

// Bounds of the example embeddings kept: a 10,000-rule policy's are about
// 60 MB (50,000 examples of 384 float32s), so a count alone would not bound
// them. A version that falls out is embedded again on its next turn.
const (
	vectorCacheSize  = compiledCacheSize
	vectorCacheBytes = 512 << 20
)

// vectorCache holds the embeddings of every example text of a policy
// version. They depend only on the version, so each version is embedded
// once (concurrent first turns share the work).
type vectorCache struct {
	vectors *bounded.Cache[string, [][]float32]
	loads   singleflight.Group
}

func newVectorCache() (*vectorCache, error) {
	c, err := bounded.New[string, [][]float32](vectorCacheSize, vectorCacheBytes, func(v [][]float32) int64 {
		var n int64
		for _, x := range v {
			n += 4*int64(len(x)) + 24
		}
		return n
	})
	if err != nil {
		return nil, err
	}
	return &vectorCache{vectors: c}, nil
}

// policyVectors embeds the policy's example texts (domain.ExampleTexts),
// once per version.
func (e *Engine) policyVectors(ctx context.Context, p *domain.Policy) ([][]float32, error) {
	key := policyKey(p)
	if v, ok := e.vectors.vectors.Get(key); ok {
		return v, nil
	}
	flight := e.vectors.loads.DoChan(key, func() (any, error) { return e.embedPolicy(ctx, key, p) })
	select {
	case r := <-flight:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([][]float32), nil
	case <-ctx.Done():
		return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "the agent's examples could not be embedded in time")
	}
}

// embedPolicy embeds p's example texts into the cache for the turns of one
// flight. The flight serves every turn that joins it, so its first
// caller going away (a client that hung up) must not fail the others: it
// keeps that caller's deadline, not its cancellation. It runs on the
// flight's goroutine, where a panic could not be recovered by the
// request's handler: it becomes an error here.
func (e *Engine) embedPolicy(ctx context.Context, key string, p *domain.Policy) (_ any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = domain.Errorf(domain.CodeInternal, "the agent's examples cannot be embedded: %v", r)
		}
	}()
	// A load that finished between the caller's look and the flight has
	// cached it.
	if v, ok := e.vectors.vectors.Get(key); ok {
		return v, nil
	}
	lctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if deadline, ok := ctx.Deadline(); ok {
		lctx, cancel = context.WithDeadline(lctx, deadline)
	}
	defer cancel()
	texts := domain.ExampleTexts(p)
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += embedBatch {
		batch := texts[start:min(start+embedBatch, len(texts))]
		vecs, err := e.embedder.Embed(lctx, batch)
		if err != nil {
			return nil, err
		}
		if len(vecs) != len(batch) {
			return nil, fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(batch))
		}
		for _, v := range vecs {
			domain.Normalize(v)
		}
		out = append(out, vecs...)
	}
	e.vectors.vectors.Add(key, out)
	return out, nil
}

// loadedPolicy is a turn's compiled policy and, when the message can be
// read for its meaning too, its example embeddings.
type loadedPolicy struct {
	cp      *domain.CompiledPolicy
	vectors [][]float32 // nil: words only
	note    string      // why there are no vectors despite an embedder
}

// loadPolicy compiles the turn's policy, with its example embeddings when
// an embedder is configured and answers. Embedding failures degrade the
// turn to words only instead of failing it.
func (e *Engine) loadPolicy(ctx context.Context, p *domain.Policy) (loadedPolicy, error) {
	var out loadedPolicy
	if e.embedder != nil {
		vectors, err := e.policyVectors(ctx, p)
		if err == nil {
			out.vectors = vectors
		} else {
			out.note = "semantic scoring unavailable (" + domain.ErrorCodeOf(err).String() + "): lexical scores only"
		}
	}
	cp, err := e.compiledPolicy(ctx, p, out.vectors)
	out.cp = cp
	return out, err
}

// messageSimilarity is the message's cosine similarity to each of the
// policy's example texts, or nil and a note when there are no vectors or
// the message cannot be embedded.
func (e *Engine) messageSimilarity(ctx context.Context, lp loadedPolicy, message string) ([]float64, string) {
	if lp.vectors == nil {
		return nil, lp.note
	}
	msg, err := e.embedder.Embed(ctx, []string{message})
	if err != nil || len(msg) != 1 {
		return nil, "message embedding unavailable: lexical scores only"
	}
	domain.Normalize(msg[0])
	out := make([]float64, len(lp.vectors))
	for i, v := range lp.vectors {
		out[i] = domain.Similarity(msg[0], v)
	}
	return out, ""
}
