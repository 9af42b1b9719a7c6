package observe

import "github.com/prometheus/client_golang/prometheus"

// WatchPackBacklog publishes focal_memory_sessions_awaiting_pack, read
// from backlog at each scrape: the memory store's sessions still held
// whole until they go idle and are packed (see memory.Store.PackBacklog).
func (m *Metrics) WatchPackBacklog(backlog func() int) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "focal_memory_sessions_awaiting_pack",
		Help: "Sessions the memory store holds whole until they go idle and its idle work packs them.",
	}, func() float64 { return float64(backlog()) }))
}
