package observe

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"focal/application"
	"focal/domain"
)

// usageMetrics counts the tokens turns were charged and the turns budgets
// refused. Tenant ids appear in labels only when asked for: a series per
// tenant costs memory in every scraper and names the service's customers.
type usageMetrics struct {
	perTenant bool
	tokens    *prometheus.CounterVec
	refused   *prometheus.CounterVec
}

var _ application.UsageObserver = (*usageMetrics)(nil)

// Usage returns the observer of charged and refused turns, registering its
// series on first use: focal_tenant_tokens_total and
// focal_budget_refusals_total, labelled with tenant_id when perTenant is
// set (FOCAL_METRICS_TENANT_USAGE).
func (m *Metrics) Usage(perTenant bool) application.UsageObserver {
	tokenLabels, refusalLabels := []string{"kind"}, []string{}
	if perTenant {
		tokenLabels, refusalLabels = []string{"tenant_id", "kind"}, []string{"tenant_id"}
	}
	u := &usageMetrics{perTenant: perTenant,
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "focal_tenant_tokens_total",
			Help: "Model tokens charged to tenants' budgets and usage, by kind (prompt, completion); by tenant with FOCAL_METRICS_TENANT_USAGE.",
		}, tokenLabels),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "focal_budget_refusals_total",
			Help: "Turns refused because their tenant's monthly token budget was used up; by tenant with FOCAL_METRICS_TENANT_USAGE.",
		}, refusalLabels),
	}
	u.tokens = registerOnce(m.registry, u.tokens)
	u.refused = registerOnce(m.registry, u.refused)
	return u
}

// registerOnce registers c, or returns the collector registered before
// under its name (a second Usage call shares the first one's series).
func registerOnce(r *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	var already prometheus.AlreadyRegisteredError
	if err := r.Register(c); errors.As(err, &already) {
		return already.ExistingCollector.(*prometheus.CounterVec)
	} else if err != nil {
		panic(err) // a name clash with another series is a programming error
	}
	return c
}

// TurnCharged implements application.UsageObserver.
func (u *usageMetrics) TurnCharged(tenantID string, usage domain.TokenUsage) {
	add := func(kind string, n int) {
		if n <= 0 {
			return
		}
		if u.perTenant {
			u.tokens.WithLabelValues(tenantID, kind).Add(float64(n))
		} else {
			u.tokens.WithLabelValues(kind).Add(float64(n))
		}
	}
	add("prompt", usage.Prompt)
	add("completion", usage.Completion)
}

// BudgetRefused implements application.UsageObserver.
func (u *usageMetrics) BudgetRefused(tenantID string) {
	if u.perTenant {
		u.refused.WithLabelValues(tenantID).Inc()
	} else {
		u.refused.WithLabelValues().Inc()
	}
}
