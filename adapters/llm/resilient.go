package llm

import (
	"context"
	"errors"
	"net/url"

	"go.uber.org/zap"

	"focal/adapters/resilience"
	"focal/domain"
	"focal/ports"
)

// Link is one model of a fallback chain.
type Link struct {
	// Provider and Model name the link's breaker ("openai", "gpt-4o-mini").
	Provider string
	Model    string
	// BaseURL, when set, tells apart links of one provider and model on
	// different servers: each gets its own breaker.
	BaseURL string
	// Tenant, when set, tags a link on a tenant's own key: its breaker is
	// the tenant's alone.
	Tenant string
	Chat   ports.ChatModel
}

// breakerName names the breaker of l serving model: "model openai/gpt-4o",
// with "@host" for a link on another server than the provider's own.
func (l Link) breakerName(model string) string {
	name := "model " + l.Provider + "/" + model
	if u, err := url.Parse(l.BaseURL); err == nil && u.Host != "" {
		name += "@" + u.Host
	}
	if l.Tenant != "" {
		name += " tenant " + l.Tenant
	}
	return name
}

// Resilient is a ChatModel over a fallback chain: each link is called
// through the Guard (deadlines, retries, its own breaker per provider and
// model); when a link fails before any text was passed on, the next one is
// tried. After the first delta an error ends the call: the client already
// has text, and another model would not continue it.
//
// A request's Model override applies to the first link only; fallback
// links use their own configured models, since a model name rarely means
// anything to another provider.
type Resilient struct {
	links []Link
	guard *resilience.Guard
	log   *zap.Logger
}

var _ Chat = (*Resilient)(nil)

// NewResilient returns the chain links guarded by guard.
func NewResilient(guard *resilience.Guard, log *zap.Logger, links ...Link) (*Resilient, error) {
	if len(links) == 0 {
		return nil, errors.New("llm: a fallback chain needs at least one model")
	}
	for _, l := range links {
		if l.Chat == nil {
			return nil, errors.New("llm: a chain link has no model")
		}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Resilient{links: links, guard: guard, log: log}, nil
}

// StreamChat implements ports.ChatModel. It returns ports.ErrOffline only
// when every link is offline, so the engine answers from templates;
// otherwise the last link's error.
func (r *Resilient) StreamChat(ctx context.Context, req ports.ChatRequest, onDelta func(string) error) (ports.ChatResult, error) {
	var last error
	// Links and the request are passed by pointer: copies of them would
	// take room in the frames a turn waits for tokens under.
	for i := range r.links {
		l := &r.links[i]
		lreq := req
		if i > 0 {
			lreq.Model = ""
		}
		res, streamed, err := r.try(ctx, l, &lreq, onDelta)
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, ports.ErrOffline):
			continue
		case streamed || ctx.Err() != nil:
			return res, err
		}
		last = err
		if i+1 < len(r.links) {
			r.warnFallback(l, &r.links[i+1], &lreq, err)
		}
	}
	if last == nil {
		return ports.ChatResult{}, ports.ErrOffline
	}
	return ports.ChatResult{}, last
}

// warnFallback logs that the chain moves from l to next. A function of
// its own, so its log fields take no room in StreamChat's frame: a turn
// waits for tokens on the stack below it (make bench measures the stacks
// of idle streams).
func (r *Resilient) warnFallback(l, next *Link, req *ports.ChatRequest, err error) {
	r.log.Warn("model failed before streaming; falling back",
		zap.String("provider", l.Provider), zap.String("model", linkModel(l, req)),
		zap.String("next_provider", next.Provider), zap.String("next_model", next.Model), zap.Error(err))
}

// Ready reports whether some link can be called: an offline link, or a
// model whose breaker is not open. LLM_UNAVAILABLE when none can.
func (r *Resilient) Ready(context.Context) error {
	for _, l := range r.links {
		if _, ok := l.Chat.(Offline); ok || r.guard.BreakerState(l.breakerName(l.Model)) != "open" {
			return nil
		}
	}
	return domain.Errorf(domain.CodeLLMUnavailable, "every configured model's circuit breaker is open")
}

// try calls one link; streamed reports that a delta was passed on.
func (r *Resilient) try(ctx context.Context, l *Link, req *ports.ChatRequest, onDelta func(string) error) (res ports.ChatResult, streamed bool, err error) {
	if _, ok := l.Chat.(Offline); ok {
		return res, false, ports.ErrOffline // no breaker for a model that never fails
	}
	model := linkModel(l, req)
	var consumerErr error
	err = r.guard.RunStream(ctx, l.breakerName(model), func(actx context.Context, begin func() error) error {
		var callErr error
		res, callErr = l.Chat.StreamChat(actx, *req, func(delta string) error {
			if err := begin(); err != nil {
				return err // the first-token watchdog won the race: drop the delta
			}
			streamed = true
			if err := onDelta(delta); err != nil {
				consumerErr = err
				return &resilience.ConsumerError{Err: err}
			}
			return nil
		})
		return callErr
	})
	if consumerErr != nil {
		// The ChatModel contract: the consumer's error comes back as it was.
		return res, true, consumerErr
	}
	if res.Provider == "" {
		res.Provider = l.Provider
	}
	if res.Model == "" {
		res.Model = model
	}
	return res, streamed, err
}

func linkModel(l *Link, req *ports.ChatRequest) string {
	if req.Model != "" {
		return req.Model
	}
	return l.Model
}

// ResilientEmbedder calls one Embedder through the Guard. There is no
// fallback chain: vectors from different models are not comparable.
type ResilientEmbedder struct {
	name  string
	inner ports.Embedder
	guard *resilience.Guard
}

var _ ports.Embedder = (*ResilientEmbedder)(nil)

// NewResilientEmbedder guards inner, whose breaker is named
// "embeddings <provider>/<model>".
func NewResilientEmbedder(guard *resilience.Guard, provider, model string, inner ports.Embedder) *ResilientEmbedder {
	return &ResilientEmbedder{name: "embeddings " + provider + "/" + model, inner: inner, guard: guard}
}

// Embed implements ports.Embedder.
func (e *ResilientEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	var out [][]float32
	err := e.guard.Run(ctx, e.name, func(actx context.Context) error {
		var err error
		out, err = e.inner.Embed(actx, texts)
		return err
	})
	return out, err
}
