package observe

import (
	"maps"
	"sync"
	"sync/atomic"
)

// series resolves a metric vector's children once per distinct label
// values. WithLabelValues hashes and checks the values and takes the
// vector's lock on every call; the hot paths (every store call, every step
// of every turn, every request) look their child up here instead. The
// values cached are bounded as the vector's are (operations, outcomes,
// steps, routes), and no vector here is ever reset, so a cached child
// stays the one the registry exports.
//
// The cache is copied on write: a lookup is one atomic load and a map
// read, with no lock whose counter every core's requests would bounce
// between them (a turn makes about fifteen lookups), and a miss, which
// happens once per label values, copies the map.
type series[T any] struct {
	of     func(...string) T // the vector's WithLabelValues
	labels int               // how many labels the vector has
	mu     sync.Mutex        // serialises misses
	m      atomic.Pointer[map[[maxSeriesLabels]string]T]
}

// maxSeriesLabels is the most labels a cached vector has.
const maxSeriesLabels = 3

func newSeries[T any](labels int, of func(...string) T) *series[T] {
	s := &series[T]{of: of, labels: labels}
	s.m.Store(&map[[maxSeriesLabels]string]T{})
	return s
}

// get is the child for the vector's label values, in order; the values
// past its count of labels are "".
func (s *series[T]) get(a, b, c string) T {
	k := [maxSeriesLabels]string{a, b, c}
	if child, ok := (*s.m.Load())[k]; ok {
		return child
	}
	return s.resolve(k)
}

// resolve asks the vector for the child of k and keeps it, in a copy of
// the map that replaces it.
func (s *series[T]) resolve(k [maxSeriesLabels]string) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if child, ok := old[k]; ok {
		return child
	}
	child := s.of(k[:s.labels]...)
	m := make(map[[maxSeriesLabels]string]T, len(old)+1)
	maps.Copy(m, old)
	m[k] = child
	s.m.Store(&m)
	return child
}
