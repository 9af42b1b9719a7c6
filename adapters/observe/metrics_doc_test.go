package observe

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// documentedMetric is a row of docs/operations.md's metrics table: a
// metric's labels, and those it has only with FOCAL_METRICS_TENANT_USAGE.
type documentedMetric struct {
	labels, perTenant []string
}

var (
	backticked    = regexp.MustCompile("`([^`]+)`")
	parenthesised = regexp.MustCompile(`\([^)]*\)`)
	descName      = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels    = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// documentedMetrics reads the metrics table of docs/operations.md.
func documentedMetrics(t *testing.T) map[string]documentedMetric {
	raw, err := os.ReadFile("../../docs/operations.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(raw), "## Metrics (`GET /metrics`)")
	require.True(t, ok, "operations.md has no metrics section")
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string]documentedMetric{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`focal_") {
			continue
		}
		var m documentedMetric
		for _, part := range strings.FieldsFunc(parenthesised.ReplaceAllString(cells[2], ""), func(r rune) bool { return r == ',' || r == ';' }) {
			words := strings.Fields(strings.ReplaceAll(part, "`", ""))
			if len(words) == 0 {
				continue
			}
			if strings.Contains(part, "FOCAL_METRICS_TENANT_USAGE") {
				m.perTenant = append(m.perTenant, words[0])
			} else {
				m.labels = append(m.labels, words[0])
			}
		}
		for _, name := range backticked.FindAllStringSubmatch(cells[1], -1) {
			out[name[1]] = m
		}
	}
	return out
}

// registeredMetrics lists the focal_ metrics of m's registry and their
// labels, sorted.
func registeredMetrics(m *Metrics) map[string][]string {
	ch := make(chan *prometheus.Desc)
	go func() {
		m.Registry().Describe(ch)
		close(ch)
	}()
	out := map[string][]string{}
	for d := range ch {
		s := d.String()
		name := descName.FindStringSubmatch(s)[1]
		if !strings.HasPrefix(name, "focal_") {
			continue
		}
		var labels []string
		if l := descLabels.FindStringSubmatch(s)[1]; l != "" {
			labels = strings.Split(l, ",")
		}
		slices.Sort(labels)
		out[name] = labels
	}
	return out
}

// A dashboard or alert is written from operations.md's metrics table: every
// metric the service registers is in it with exactly its labels, and it
// names no metric the service lacks.
func TestMetricsTableIsTheRegistry(t *testing.T) {
	doc := documentedMetrics(t)
	require.NotEmpty(t, doc)
	for _, perTenant := range []bool{false, true} {
		m := NewMetrics(nil)
		m.Usage(perTenant)
		m.WatchPackBacklog(func() int { return 0 })
		got := registeredMetrics(m)
		for name, labels := range got {
			d, ok := doc[name]
			if !assert.True(t, ok, "%s is registered but not in operations.md's metrics table", name) {
				continue
			}
			want := slices.Clone(d.labels)
			if perTenant {
				want = append(want, d.perTenant...)
			}
			slices.Sort(want)
			assert.Equal(t, want, labels, "%s's labels (tenant usage %v)", name, perTenant)
		}
		for name := range doc {
			_, ok := got[name]
			assert.True(t, ok, "operations.md documents %s, which is not registered", name)
		}
	}
}

// operations.md: model and breaker labels admit 32 and 64 distinct values
// (TestModelLabelsAreBounded holds them to the constants).
func TestOperationsDocStatesTheLabelBounds(t *testing.T) {
	assert.Equal(t, 32, maxModelLabels)
	assert.Equal(t, 64, maxBreakerLabels)
}
