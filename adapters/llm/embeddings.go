package llm

import (
	"context"
	"errors"

	"github.com/openai/openai-go/v3"

	"focal/domain"
	"focal/ports"
)

// embedBatch bounds the inputs of one /embeddings request; OpenAI accepts
// up to 2048 and compatible servers often fewer.
const embedBatch = 256

// OpenAIEmbeddings is an Embedder on the OpenAI-compatible /embeddings API.
type OpenAIEmbeddings struct {
	client openai.Client
	model  string
	key    string
}

var _ ports.Embedder = (*OpenAIEmbeddings)(nil)

// NewOpenAIEmbeddings returns an Embedder for cfg (cfg.Model is the
// embedding model).
func NewOpenAIEmbeddings(cfg OpenAIConfig) (*OpenAIEmbeddings, error) {
	if cfg.Model == "" {
		return nil, errors.New("embeddings: a model is required")
	}
	return &OpenAIEmbeddings{client: openai.NewClient(cfg.options()...), model: cfg.Model, key: cfg.APIKey}, nil
}

// Embed implements ports.Embedder: one float32 vector per text, in order,
// all of one dimension.
func (e *OpenAIEmbeddings) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += embedBatch {
		batch := texts[start:min(start+embedBatch, len(texts))]
		vecs, err := e.embed(ctx, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	for i := 1; i < len(out); i++ {
		if len(out[i]) != len(out[0]) {
			return nil, domain.Errorf(domain.CodeLLMError, "embedding model %s returned vectors of %d and %d dimensions", e.model, len(out[0]), len(out[i]))
		}
	}
	return out, nil
}

func (e *OpenAIEmbeddings) embed(ctx context.Context, batch []string) ([][]float32, error) {
	who := "openai/" + e.model
	res, err := e.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:          e.model,
		Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: batch},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	if err != nil {
		return nil, mapError(ctx, err, who, e.key)
	}
	if len(res.Data) != len(batch) {
		return nil, domain.Errorf(domain.CodeLLMError, "embedding model %s returned %d vectors for %d texts", who, len(res.Data), len(batch))
	}
	// The API may answer out of order; index says which input a vector is.
	vecs := make([][]float32, len(batch))
	for _, d := range res.Data {
		if d.Index < 0 || int(d.Index) >= len(batch) || vecs[d.Index] != nil {
			return nil, domain.Errorf(domain.CodeLLMError, "embedding model %s returned a bad index %d", who, d.Index)
		}
		v := make([]float32, len(d.Embedding))
		for i, x := range d.Embedding {
			v[i] = float32(x)
		}
		vecs[d.Index] = v
	}
	return vecs, nil
}
