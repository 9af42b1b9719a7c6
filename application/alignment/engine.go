// Package alignment implements ports.Engine: the per-turn pipeline of rule
// retrieval, scenario navigation, tools, generation and enforcement, over the
// pure logic in domain and the model, embedder and tool ports.
package alignment

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"focal/application/bounded"
	"focal/domain"
	"focal/ports"
)

// Engine runs turns. Build it with New; it is safe for concurrent use.
type Engine struct {
	model    ports.ChatModel
	history  ports.TurnStore
	clock    ports.Clock
	embedder ports.Embedder    // optional: lexical retrieval only without it
	tools    ports.ToolInvoker // optional: tool calls fail without it
	compiled *bounded.Cache[string, *domain.CompiledPolicy]
	compile  singleflight.Group
	// compiling holds a slot per policy compile in progress: a compile
	// allocates about as much as its result, and many tenants' first turns
	// at once must not all compile at once.
	compiling chan struct{}
	vectors   *vectorCache
	exprs     *expressions
}

// Deps are the engine's collaborators. Model, History and Clock are
// required; Embedder and Tools are optional. Limits are the policy limits
// policies were validated with (zero: the defaults).
type Deps struct {
	Model    ports.ChatModel
	History  ports.TurnStore
	Clock    ports.Clock
	Embedder ports.Embedder
	Tools    ports.ToolInvoker
	Limits   domain.PolicyLimits
}

var _ ports.Engine = (*Engine)(nil)

// Bounds of the compiled policies kept: how many versions, and how much
// memory they may take together, estimated as compiledPerTextByte bytes
// per byte of policy text (6 to 12 measured for the lexical matcher). A
// version that falls out is compiled again on its next turn.
const (
	compiledCacheSize   = 512
	compiledCacheBytes  = 256 << 20
	compiledPerTextByte = 10
	// compileSlots is how many policies compile at once.
	compileSlots = 2
)

// New returns an engine over d.
func New(d Deps) (*Engine, error) {
	if d.Model == nil || d.History == nil || d.Clock == nil {
		return nil, fmt.Errorf("alignment: model, history and clock are required")
	}
	cache, err := bounded.New[string, *domain.CompiledPolicy](compiledCacheSize, compiledCacheBytes,
		func(cp *domain.CompiledPolicy) int64 { return compiledPerTextByte * int64(cp.Policy.TextBytes()) })
	if err != nil {
		return nil, err
	}
	vectors, err := newVectorCache()
	if err != nil {
		return nil, err
	}
	if d.Limits == (domain.PolicyLimits{}) {
		d.Limits = domain.DefaultPolicyLimits()
	}
	exprs, err := newExpressions(d.Limits)
	if err != nil {
		return nil, err
	}
	return &Engine{model: d.Model, history: d.History, clock: d.Clock, embedder: d.Embedder, tools: d.Tools,
		compiled: cache, compiling: make(chan struct{}, compileSlots), vectors: vectors, exprs: exprs}, nil
}

// turn is the working state of one RunTurn call.
type turn struct {
	in      ports.TurnInput
	cp      *domain.CompiledPolicy
	query   domain.Query
	scores  *domain.ConditionScores
	state   *domain.Session
	matched []domain.RuleCandidate
	exp     domain.Explanation
	usage   domain.TokenUsage
	model   string
	timings []domain.StepTiming
	clock   ports.Clock
	started time.Time
	// history is the prompt's history once loaded (see loadHistory).
	history       []domain.HistoryEntry
	historyLoaded bool
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
	t := &turn{in: in, state: in.Session.Clone(), clock: e.clock, started: e.clock.Now(), exp: domain.NewExplanation()}
	err := t.step("policy", func() (err error) {
		t.cp, err = e.compiledPolicy(ctx, in.Policy)
		return err
	})
	if err != nil {
		return nil, err
	}
	t.query = domain.NewQuery(in.Message)
	_ = t.step("embedding", func() error {
		semantic, note := e.semanticScores(ctx, t)
		t.exp.Retrieval = domain.Retrieval{Mode: domain.RetrievalLexical, Note: note}
		if semantic != nil {
			t.exp.Retrieval.Mode, t.exp.Retrieval.SemanticWeight = domain.RetrievalHybrid, *t.cp.Settings.SemanticWeight
		}
		t.scores = t.cp.Score(t.query, semantic, *t.cp.Settings.SemanticWeight)
		return nil
	})
	_ = t.step("scenario", func() error { e.navigate(t); return nil })
	var cands []domain.RuleCandidate
	_ = t.step("retrieval", func() error { cands = e.candidates(t); return nil })
	if t.cp.Settings.RuleJudge && len(cands) > 0 {
		err = t.step("rule_judge", func() error { return e.judgeRules(ctx, t, cands) })
	} else {
		e.selectRules(t, cands, nil)
	}
	if err != nil {
		return nil, err
	}
	_ = t.step("tools", func() error { e.runTools(ctx, t); return nil })
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

// policyKey names one version of one agent's policy.
func policyKey(p *domain.Policy) string {
	return p.Agent.TenantID + "/" + p.Agent.ID + "/" + strconv.FormatInt(p.Agent.Version, 10)
}

// compiledPolicy returns the compiled form of p, compiling each version once
// even when many turns ask for it at the same moment, and waiting (within
// ctx) for a compile slot.
func (e *Engine) compiledPolicy(ctx context.Context, p *domain.Policy) (*domain.CompiledPolicy, error) {
	key := policyKey(p)
	if cp, ok := e.compiled.Get(key); ok {
		return cp, nil
	}
	v, err, _ := e.compile.Do(key, func() (any, error) {
		// A compile that finished between the Get above and Do has cached it.
		if cp, ok := e.compiled.Get(key); ok {
			return cp, nil
		}
		select {
		case e.compiling <- struct{}{}:
			defer func() { <-e.compiling }()
		case <-ctx.Done():
			return nil, domain.WrapError(domain.CodeTimeout, ctx.Err(), "agent policy could not be compiled in time")
		}
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
