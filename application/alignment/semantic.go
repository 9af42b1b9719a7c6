package alignment

import (
	"context"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"focal/domain"
)

// embedBatch is how many condition texts go into one embedding request.
const embedBatch = 128

// vectorCache holds the embeddings of every condition document of a policy
// version. They depend only on the version, so each version is embedded once
// (concurrent first turns share the work) and kept while it is in use.
type vectorCache struct {
	vectors *lru.Cache[string, [][]float32]
	loads   singleflight.Group
}

func newVectorCache() (*vectorCache, error) {
	c, err := lru.New[string, [][]float32](compiledCacheSize)
	if err != nil {
		return nil, err
	}
	return &vectorCache{vectors: c}, nil
}

// semanticScores returns the message's similarity to every condition
// document, or nil and a note when no embedder is configured or embedding
// failed: retrieval then falls back to lexical scores instead of failing the
// turn.
func (e *Engine) semanticScores(ctx context.Context, t *turn) ([]float64, string) {
	if e.embedder == nil {
		return nil, ""
	}
	docs, err := e.policyVectors(ctx, t)
	if err != nil {
		return nil, "semantic scoring unavailable (" + domain.ErrorCodeOf(err).String() + "): lexical scores only"
	}
	msg, err := e.embedder.Embed(ctx, []string{t.in.Message})
	if err != nil || len(msg) != 1 {
		return nil, "message embedding unavailable: lexical scores only"
	}
	domain.Normalize(msg[0])
	out := make([]float64, len(docs))
	for i, v := range docs {
		out[i] = domain.Similarity(msg[0], v)
	}
	return out, ""
}

// policyVectors embeds the policy's condition documents once per version.
func (e *Engine) policyVectors(ctx context.Context, t *turn) ([][]float32, error) {
	key := policyKey(t.in.Policy)
	if v, ok := e.vectors.vectors.Get(key); ok {
		return v, nil
	}
	v, err, _ := e.vectors.loads.Do(key, func() (any, error) {
		// A load that finished between the Get above and Do has cached it.
		if v, ok := e.vectors.vectors.Get(key); ok {
			return v, nil
		}
		texts := t.cp.Alternatives
		out := make([][]float32, 0, len(texts))
		for start := 0; start < len(texts); start += embedBatch {
			batch := texts[start:min(start+embedBatch, len(texts))]
			vecs, err := e.embedder.Embed(ctx, batch)
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
	})
	if err != nil {
		return nil, err
	}
	return v.([][]float32), nil
}
