package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"focal/domain"
	"focal/ports"
)

// ReadinessCheck is one condition /readyz requires, such as "store"
// (reachable) or "llm" (a model breaker not open), asked of the adapter
// itself. A check named "store" failing makes the answer
// STORE_UNAVAILABLE, any other LLM_UNAVAILABLE.
type ReadinessCheck struct {
	Name  string
	Probe ports.ReadinessChecker
}

// readinessTimeout bounds each check, so a probe answers within it.
const readinessTimeout = 2 * time.Second

// checkStore names the readiness check of the storage backend.
const checkStore = "store"

// HealthRoutes serves /healthz and /readyz.
type HealthRoutes struct {
	checks  []ReadinessCheck
	timeout time.Duration
}

// NewHealthRoutes returns the probes over checks (fx group "readiness").
func NewHealthRoutes(checks []ReadinessCheck) *HealthRoutes {
	checks = slices.Clone(checks)
	slices.SortFunc(checks, func(a, b ReadinessCheck) int { return strings.Compare(a.Name, b.Name) })
	return &HealthRoutes{checks: checks, timeout: readinessTimeout}
}

// Register implements Routes: both probes are public.
func (h *HealthRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	public.GET("/healthz", h.healthz)
	public.GET("/readyz", h.readyz)
}

// healthz answers while the process serves requests.
func (h *HealthRoutes) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz runs every check concurrently, each within the timeout, and
// answers 200 when all pass, else 503 with each check's result in details.
func (h *HealthRoutes) readyz(c *gin.Context) {
	errs := h.run(c.Request.Context())
	results := make(map[string]string, len(h.checks))
	details := make([]domain.FieldError, 0, len(h.checks))
	var failed []string
	code := domain.CodeLLMUnavailable
	for i, chk := range h.checks {
		msg := "ok"
		if err := errs[i]; err != nil {
			msg = checkMessage(err)
			failed = append(failed, chk.Name)
			if chk.Name == checkStore {
				code = domain.CodeStoreUnavailable
			}
		}
		results[chk.Name] = msg
		details = append(details, domain.FieldError{Field: chk.Name, Message: msg})
	}
	if len(failed) == 0 {
		c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": results})
		return
	}
	writeError(c, &domain.Error{Code: code, Message: "not ready: " + strings.Join(failed, ", "), Details: details})
}

// run runs the checks concurrently and returns their errors in order.
// Results arrive on buffered channels, so a check that ignores its context
// cannot hold the probe past the timeout, nor block once it returns.
func (h *HealthRoutes) run(ctx context.Context) []error {
	results := make([]chan error, len(h.checks))
	for i, chk := range h.checks {
		results[i] = make(chan error, 1)
		go func(done chan<- error) {
			cctx, cancel := context.WithTimeout(ctx, h.timeout)
			defer cancel()
			done <- runCheck(cctx, chk, h.timeout)
		}(results[i])
	}
	deadline := time.NewTimer(h.timeout + 100*time.Millisecond)
	defer deadline.Stop()
	errs := make([]error, len(h.checks))
	for i, done := range results {
		select {
		case errs[i] = <-done:
		case <-deadline.C:
			errs[i] = fmt.Errorf("no answer within %s", h.timeout)
			// Every later check is late as well.
			for j := i + 1; j < len(results); j++ {
				select {
				case errs[j] = <-results[j]:
				default:
					errs[j] = errs[i]
				}
			}
			return errs
		}
	}
	return errs
}

// runCheck runs one check, turning a panic into its failure.
func runCheck(ctx context.Context, chk ReadinessCheck, timeout time.Duration) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	if chk.Probe == nil {
		return errors.New("nothing to ask")
	}
	err = chk.Probe.Ready(ctx)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return fmt.Errorf("no answer within %s", timeout)
	}
	return err
}

// checkMessage is what the probe shows of a failed check: a Focal error's
// client-safe message, else the error text.
func checkMessage(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}

// MetricsRoutes serves GET /metrics.
type MetricsRoutes struct {
	handler http.Handler
	token   []byte
}

// NewMetricsRoutes serves h (the Prometheus handler) at /metrics; with a
// token, only to requests bearing it.
func NewMetricsRoutes(h http.Handler, token string) *MetricsRoutes {
	return &MetricsRoutes{handler: h, token: []byte(token)}
}

// Register implements Routes: /metrics needs no tenant's token, only the
// metrics token when one is configured. Its labels never carry tenant ids.
func (m *MetricsRoutes) Register(public *gin.RouterGroup, _ *gin.RouterGroup) {
	public.GET("/metrics", m.authorize, gin.WrapH(m.handler))
}

func (m *MetricsRoutes) authorize(c *gin.Context) {
	if len(m.token) == 0 {
		c.Next()
		return
	}
	scheme, raw, _ := strings.Cut(strings.TrimSpace(c.GetHeader("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(raw)), m.token) != 1 {
		writeError(c, domain.Errorf(domain.CodeUnauthenticated, "the metrics need the metrics bearer token"))
		return
	}
	c.Next()
}
