// Package alignment implements ports.Engine: the per-turn pipeline of rule
// retrieval, scenario navigation, tools, generation and enforcement, over the
// pure logic in domain and the model, embedder and tool ports.
package alignment

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"focal/domain"
	"focal/ports"
)

// Engine runs turns. Build it with New; it is safe for concurrent use.
type Engine struct {
	model    ports.ChatModel
	history  ports.TurnStore
	clock    ports.Clock
	compiled *lru.Cache[string, *domain.CompiledPolicy]
	compile  singleflight.Group
}

var _ ports.Engine = (*Engine)(nil)

// compiledCacheSize bounds how many policy versions stay compiled; a version
// that falls out is compiled again on its next turn.
const compiledCacheSize = 512

// New returns an engine generating with model and reading prompt history
// from history.
func New(model ports.ChatModel, history ports.TurnStore, clock ports.Clock) (*Engine, error) {
	if model == nil || history == nil || clock == nil {
		return nil, fmt.Errorf("alignment: model, history and clock are required")
	}
	cache, err := lru.New[string, *domain.CompiledPolicy](compiledCacheSize)
	if err != nil {
		return nil, err
	}
	return &Engine{model: model, history: history, clock: clock, compiled: cache}, nil
}

// turn is the working state of one RunTurn call.
type turn struct {
	in      ports.TurnInput
	cp      *domain.CompiledPolicy
	query   domain.Query
	state   *domain.Session
	matched []domain.RuleCandidate
	exp     domain.Explanation
	usage   domain.TokenUsage
	model   string
	timings []domain.StepTiming
	clock   ports.Clock
	started time.Time
}

// step times fn and records it under name.
func (t *turn) step(name string, fn func() error) error {
	start := t.clock.Now()
	err := fn()
	t.timings = append(t.timings, domain.StepTiming{Step: name, DurationMS: float64(t.clock.Now().Sub(start).Microseconds()) / 1000})
	return err
}

// RunTurn implements ports.Engine.
func (e *Engine) RunTurn(ctx context.Context, in ports.TurnInput, sink ports.DeltaSink) (*ports.TurnOutcome, error) {
	t := &turn{in: in, state: in.Session.Clone(), clock: e.clock, started: e.clock.Now()}
	err := t.step("policy", func() (err error) {
		t.cp, err = e.compiledPolicy(in.Policy)
		return err
	})
	if err != nil {
		return nil, err
	}
	t.query = domain.NewQuery(in.Message)
	_ = t.step("scenario", func() error { e.navigate(t); return nil })
	_ = t.step("retrieval", func() error { e.retrieve(t); return nil })
	var reply string
	err = t.step("generation", func() (err error) {
		reply, err = e.respond(ctx, t, sink)
		return err
	})
	if err != nil {
		return nil, err
	}
	// A terminal step answers this turn and ends its scenario.
	if st := t.currentStep(); st != nil && st.Terminal {
		t.state.ExitScenario()
	}
	return &ports.TurnOutcome{
		Response:    reply,
		Session:     t.state,
		Explanation: t.exp,
		Usage:       t.usage,
		Model:       t.model,
		Timings:     t.timings,
	}, nil
}

// compiledPolicy returns the compiled form of p, compiling each version once
// even when many turns ask for it at the same moment.
func (e *Engine) compiledPolicy(p *domain.Policy) (*domain.CompiledPolicy, error) {
	key := fmt.Sprintf("%s/%s/%d", p.Agent.TenantID, p.Agent.ID, p.Agent.Version)
	if cp, ok := e.compiled.Get(key); ok {
		return cp, nil
	}
	v, err, _ := e.compile.Do(key, func() (any, error) {
		cp, err := domain.CompilePolicy(p)
		if err != nil {
			return nil, domain.WrapError(domain.CodeInternal, err, "agent policy cannot be compiled")
		}
		e.compiled.Add(key, cp)
		return cp, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*domain.CompiledPolicy), nil
}
